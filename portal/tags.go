package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// tagPage is how many tags, or members of a tag, a page shows.
const tagPage = 50

// countWorkers bounds the tag counts read at once for one page.
const countWorkers = 8

// tagCount is a tag with its number of devices (-1: unknown).
type tagCount struct {
	Tag   string
	Count int64
}

// tagsView is the tags page's data.
type tagsView struct {
	Tags  []tagCount
	Next  string
	First string
}

// tags lists the app's tags with how many devices each has, a page at a
// time (GET /v1/tags, then GET /v1/tags/{tag}?limit=1 per tag of the page
// for its count, a few at once).
func (p *Portal) tags(w http.ResponseWriter, r *http.Request, s *session) {
	q := url.Values{"limit": {strconv.Itoa(tagPage)}}
	after := r.URL.Query().Get("after")
	if after != "" {
		q.Set("after", after)
	}
	var list tagList
	if err := s.api.get(r.Context(), "/v1/tags", q, &list); err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := &tagsView{Tags: make([]tagCount, len(list.Tags))}
	var wg sync.WaitGroup
	next := make(chan int, len(list.Tags))
	for i, t := range list.Tags {
		v.Tags[i] = tagCount{Tag: t, Count: -1}
		next <- i
	}
	close(next)
	for range min(countWorkers, len(list.Tags)) {
		wg.Go(func() {
			for i := range next {
				var info tagInfo
				if s.api.get(r.Context(), "/v1/tags/"+seg(v.Tags[i].Tag), url.Values{"limit": {"1"}}, &info) == nil {
					v.Tags[i].Count = info.Count
				}
			}
		})
	}
	wg.Wait()
	if list.Next != "" {
		v.Next = appPath(s, "tags") + "?after=" + url.QueryEscape(list.Next)
	}
	if after != "" {
		v.First = appPath(s, "tags")
	}
	p.render(w, r, http.StatusOK, "tags", &view{Title: "Tags", S: s, Active: "tags", Notice: notice(r), Data: v})
}

// tagView is a tag's page: its count and a page of its devices.
type tagView struct {
	Info  tagInfo
	Next  string
	First string
}

// tag shows a tag's devices, a page at a time.
func (p *Portal) tag(w http.ResponseWriter, r *http.Request, s *session) {
	tag := r.PathValue("tag")
	q := url.Values{"limit": {strconv.Itoa(tagPage)}}
	after := r.URL.Query().Get("after")
	if after != "" {
		q.Set("after", after)
	}
	var info tagInfo
	if err := s.api.get(r.Context(), "/v1/tags/"+seg(tag), q, &info); err != nil {
		p.fail(w, r, s, err)
		return
	}
	if info.Tag == "" {
		info.Tag = tag
	}
	base := appPath(s, "tags/"+seg(tag))
	v := &tagView{Info: info}
	if info.Next != "" {
		v.Next = base + "?after=" + url.QueryEscape(info.Next)
	}
	if after != "" {
		v.First = base
	}
	p.render(w, r, http.StatusOK, "tag", &view{Title: "Tag " + tag, S: s, Active: "tags", Notice: notice(r), Data: v})
}
