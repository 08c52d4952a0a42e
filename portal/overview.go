package portal

import (
	"net/http"
	"strconv"
	"sync"
)

// overviewPage is how many apps a page of the overview shows.
const overviewPage = 20

// appCard is one app of the overview with its figures of today.
type appCard struct {
	App     appRole
	Summary *appSummary
	Err     string
}

// overviewView is the overview's data.
type overviewView struct {
	Apps []appCard
	Next string
	Prev string
}

// overview shows the user's apps, each with its devices, devices online,
// messages today and delivery rate (GET /v1/app per app of the page, a
// few at once).
func (p *Portal) overview(w http.ResponseWriter, r *http.Request, s *session) {
	start, _ := strconv.Atoi(r.URL.Query().Get("start"))
	apps := s.user.Apps
	start = max(0, min(start, len(apps)))
	end := min(start+overviewPage, len(apps))
	v := &overviewView{Apps: make([]appCard, end-start)}
	var wg sync.WaitGroup
	next := make(chan int, len(v.Apps))
	for i := range v.Apps {
		v.Apps[i].App = apps[start+i]
		next <- i
	}
	close(next)
	for range min(countWorkers, len(v.Apps)) {
		wg.Go(func() {
			for i := range next {
				c := &v.Apps[i]
				api := p.client(s.token, c.App.AppKey, s.clientAddr)
				var sum appSummary
				if err := api.get(r.Context(), "/v1/app", nil, &sum); err != nil {
					c.Err = asAPIError(err).Message
					continue
				}
				c.Summary = &sum
			}
		})
	}
	wg.Wait()
	if end < len(apps) {
		v.Next = "/portal/?start=" + strconv.Itoa(end)
	}
	if start > 0 {
		v.Prev = "/portal/?start=" + strconv.Itoa(max(0, start-overviewPage))
	}
	p.render(w, r, http.StatusOK, "overview", &view{Title: "Your apps", S: s, Active: "overview", Notice: notice(r), Data: v})
}

// appHome sends an app's address to its messages.
func (p *Portal) appHome(w http.ResponseWriter, r *http.Request, s *session) {
	http.Redirect(w, r, appPath(s, "messages"), http.StatusSeeOther)
}
