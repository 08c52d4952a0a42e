# Herald's everyday commands. `make test` is what CI runs.

GO ?= go

.PHONY: build run test test-e2e bench fuzz lint proto portal

build:
	$(GO) build -o bin/herald ./cmd/herald
	cd bench && $(GO) build -o ../bin/herald-bench ./cmd/herald-bench
	cd bench && $(GO) build -o ../bin/herald-flood ./cmd/herald-flood

run:
	$(GO) run ./cmd/herald

# Everything: vet, formatting, unit, conformance, fuzz seed corpora, and the
# end-to-end tests that build and run the herald binary, under the race
# detector; then the connector once more on the standard library's network
# loop, the one non-Linux systems get (lint checks herald builds for macOS),
# and the store on a full tmpfs without the race detector (goleveldb's own
# race when a compaction fails on a full disk).
test: lint
	$(GO) test -race -timeout 20m ./...
	cd bench && $(GO) test -race -timeout 20m ./...
	$(GO) test -race -tags netpoll_std ./connector/...
	$(GO) test -count=1 -run '^TestTmpfs' ./dataservice/leveldb/ # without -race: see TestTmpfsFullThenFreed

test-e2e:
	$(GO) test -race -count=1 -v ./e2e

# Go micro-benchmarks of the hot paths (frame codec, store, ids).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	cd bench && $(GO) test -run '^$$' -bench . -benchmem ./...

# Each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSplitRecord$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzFrames$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzRespond$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodersAgree$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzPushBody$$' -fuzztime $(FUZZTIME) ./gateway

# Go code generated from docs/protocol.proto, which the protocol tests check
# the hand-written codec against (protocol/internal/protocolpb). Needs protoc
# (Debian's protobuf-compiler) and protoc-gen-go at the protobuf version in
# go.mod: go install google.golang.org/protobuf/cmd/protoc-gen-go
proto:
	$(GO) generate ./protocol/...

# The portal's vendored front-end library (uPlot) taken again from the npm
# registry: the tarball of the version in portal/web/static/vendor/uplot/VERSION
# must have the recorded integrity and its files the recorded checksums
# (which a Go test checks the committed files against). Needs npm. To move
# to another version: sh portal/vendor-uplot.sh VERSION.
portal:
	sh portal/vendor-uplot.sh

lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	$(GO) vet -tags netpoll_std ./connector/...
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/herald
	@if command -v docker-compose >/dev/null; then \
		HERALD_CLUSTER_TOKEN=check HERALD_ADMIN_TOKEN=check docker-compose config -q && echo "docker-compose.yml is valid"; \
	else echo "docker-compose not installed: docker-compose.yml not validated (CI installs it)"; fi
