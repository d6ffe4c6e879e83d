package console

import (
	"net/http"
	"strconv"
	"time"

	"github.com/scimtrail/scimtrail"
	"github.com/scimtrail/scimtrail/service"
)

// maxFilterScan bounds how many users a role or group filter reads to find its page, so a
// huge tenant's Users page stays cheap; the SCIM API has no role filter to do it in SQL.
const maxFilterScan = 20 * service.MaxResults

// userFilterChoices fills the role and group selects of the Users page.
func (c *Console) userFilterChoices(r *http.Request, tenant string, d *listData) error {
	ctx := r.Context()
	roles, err := c.svc.Roles(ctx, tenant)
	if err != nil {
		return err
	}
	for _, ro := range roles {
		if ro.Retired.IsZero() {
			d.Roles = append(d.Roles, choice{ro.ID, ro.Name})
		}
	}
	groups, err := c.svc.ListResources(ctx, tenant, scimtrail.GroupResource, service.ListQuery{Count: 500, SortBy: "displayName"})
	if err != nil {
		return err
	}
	for _, g := range groups.Views {
		d.Groups = append(d.Groups, choice{g.Resource.ID, g.Resource.DisplayName})
	}
	return nil
}

// filterUsers returns the ids of the users that hold d.Role now (by any path) and are
// members of d.Group, directly or through groups nested in it; nil for no such filter.
func (c *Console) filterUsers(r *http.Request, tenant string, d *listData) (map[string]bool, error) {
	ctx := r.Context()
	var set map[string]bool
	if d.Role != "" {
		ans, err := c.svc.AccessAt(ctx, tenant, time.Time{}, "", d.Role)
		if scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND {
			d.Error = "There is no role " + strconv.Quote(d.Role) + " in this tenant. Choose one from the list."
			return map[string]bool{}, nil
		} else if err != nil {
			return nil, err
		}
		set = map[string]bool{}
		for _, u := range ans.Users {
			if len(u.Access) > 0 {
				set[u.UserID] = true
			}
		}
	}
	if d.Group != "" {
		members := map[string]bool{}
		seen := map[string]bool{}
		queue := []string{d.Group}
		for len(queue) > 0 {
			id := queue[0]
			queue = queue[1:]
			if seen[id] {
				continue
			}
			seen[id] = true
			g, err := c.svc.Resource(ctx, tenant, scimtrail.GroupResource, id)
			if scimtrail.ErrorCode(err) == scimtrail.ENOTFOUND {
				if id == d.Group {
					d.Error = "That group no longer exists. Choose one from the list."
					return map[string]bool{}, nil
				}
				continue
			} else if err != nil {
				return nil, err
			}
			for _, m := range g.Members {
				if m.Type == scimtrail.GroupResource {
					queue = append(queue, m.Value)
				} else {
					members[m.Value] = true
				}
			}
		}
		if set == nil {
			set = members
		} else {
			for id := range set {
				if !members[id] {
					delete(set, id)
				}
			}
		}
	}
	return set, nil
}

// listAmong lists the users matching filter that are also in the role and group filters,
// paging in memory.
func (c *Console) listAmong(r *http.Request, filter string, d *listData) error {
	tenant := r.PathValue("tenant")
	set, err := c.filterUsers(r, tenant, d)
	if err != nil || d.Error != "" {
		return err
	}
	var all []row
	for start := 1; start <= maxFilterScan && len(set) > 0; start += service.MaxResults {
		res, err := c.svc.ListResources(r.Context(), tenant, scimtrail.UserResource, service.ListQuery{
			Filter: filter, StartIndex: start, Count: service.MaxResults, SortBy: "userName"})
		if code := scimtrail.ErrorCode(err); code == scimtrail.EINVALID {
			d.Error = "That search did not work: " + scimtrail.ErrorMessage(err) +
				". Type part of a name, or a SCIM filter such as userName sw \"a\"."
			return nil
		} else if err != nil {
			return err
		}
		for _, v := range res.Views {
			if rs := v.Resource; set[rs.ID] {
				all = append(all, row{ID: rs.ID, Name: rs.UserName, Display: rs.DisplayName, Active: rs.Active, LastModified: rs.LastModified})
			}
		}
		if start-1+len(res.Views) >= res.Total {
			break
		}
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("start"))
	start = max(1, min(start, len(all)))
	d.Total, d.Start = len(all), start
	d.Rows = all[min(start-1, len(all)):min(start-1+pageSize, len(all))]
	q := r.URL.Query()
	if start > 1 {
		q.Set("start", strconv.Itoa(max(1, start-pageSize)))
		d.PrevURL = r.URL.Path + "?" + q.Encode()
	}
	if start-1+len(d.Rows) < len(all) {
		q.Set("start", strconv.Itoa(start+pageSize))
		d.NextURL = r.URL.Path + "?" + q.Encode()
	}
	return nil
}
