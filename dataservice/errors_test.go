package dataservice

import (
	"errors"
	"fmt"
	"testing"
)

func TestPerWrite(t *testing.T) {
	we := &WriteErrors{Errs: []error{nil, fmt.Errorf("write 1: %w", ErrExists)}}
	other := errors.New("connection reset")
	tests := []struct {
		name      string
		err       error
		wantWhole error
		wantOne   bool // write 1 failed alone
	}{
		{"success", nil, nil, false},
		{"per write", we, nil, true},
		{"wrapped", fmt.Errorf("context: %w", we), nil, true},
		{"joined with nothing else", errors.Join(we, nil), nil, true},
		{"joined with another failure", errors.Join(we, other), errors.Join(we, other), false},
		{"whole call", other, other, false},
		{"other batch size", &WriteErrors{Errs: make([]error, 3)}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs, err := PerWrite(tc.err, 2)
			switch {
			case tc.name == "other batch size":
				if err == nil {
					t.Fatal("a WriteErrors of another batch was taken as this one's")
				}
			case tc.wantWhole != nil:
				if err == nil || err.Error() != tc.wantWhole.Error() {
					t.Fatalf("PerWrite = %v, %v; want the call's error", errs, err)
				}
			default:
				if err != nil || len(errs) != 2 || errs[0] != nil || (errs[1] != nil) != tc.wantOne {
					t.Fatalf("PerWrite = %v, %v", errs, err)
				}
			}
		})
	}
	if !errors.Is(we, ErrExists) {
		t.Fatal("errors.Is does not see a write's sentinel through WriteErrors")
	}
}
