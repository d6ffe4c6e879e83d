package service

import (
	"context"
	"fmt"
	"time"

	"github.com/scimtrail/scimtrail"
)

func notYet() error { return scimtrail.Errorf(scimtrail.ENOTIMPLEMENTED, "not implemented yet") }

// ETag is the weak entity tag of a resource version.
func ETag(version int64) string { return fmt.Sprintf(`W/"%d"`, version) }

// Render returns the SCIM JSON document of v; base is the tenant's SCIM base URL
// (".../scim/v2/acme"), used for meta.location and $ref.
func Render(v View, base string) map[string]any { return nil }

func (s *Service) Bootstrap(ctx context.Context, preset string) (string, bool, error) {
	return "", false, notYet()
}
func (s *Service) Authenticate(ctx context.Context, secret string) (scimtrail.Token, error) {
	return scimtrail.Token{}, notYet()
}
func (s *Service) CreateTenant(ctx context.Context, o Origin, id, name string) (scimtrail.Tenant, scimtrail.Receipt, error) {
	return scimtrail.Tenant{}, scimtrail.Receipt{}, notYet()
}
func (s *Service) Tenant(ctx context.Context, id string) (scimtrail.Tenant, error) {
	return scimtrail.Tenant{}, notYet()
}
func (s *Service) Tenants(ctx context.Context) ([]scimtrail.Tenant, error) { return nil, notYet() }
func (s *Service) IssueToken(ctx context.Context, o Origin, tenant string, kind scimtrail.TokenKind, name string, ttl time.Duration) (IssuedToken, scimtrail.Receipt, error) {
	return IssuedToken{}, scimtrail.Receipt{}, notYet()
}
func (s *Service) Tokens(ctx context.Context, tenant string) ([]scimtrail.Token, error) {
	return nil, notYet()
}
func (s *Service) RevokeToken(ctx context.Context, o Origin, tenant, id string) (scimtrail.Receipt, error) {
	return scimtrail.Receipt{}, notYet()
}
func (s *Service) RotateToken(ctx context.Context, o Origin, tenant, id string) (IssuedToken, scimtrail.Receipt, error) {
	return IssuedToken{}, scimtrail.Receipt{}, notYet()
}
func (s *Service) CreateResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, body []byte) (View, scimtrail.Receipt, error) {
	return View{}, scimtrail.Receipt{}, notYet()
}
func (s *Service) Resource(ctx context.Context, tenant string, typ scimtrail.ResourceType, id string) (View, error) {
	return View{}, notYet()
}
func (s *Service) ReplaceResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, body []byte, ifMatch string) (View, scimtrail.Receipt, error) {
	return View{}, scimtrail.Receipt{}, notYet()
}
func (s *Service) PatchResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, body []byte, ifMatch string) (View, scimtrail.Receipt, error) {
	return View{}, scimtrail.Receipt{}, notYet()
}
func (s *Service) DeleteResource(ctx context.Context, o Origin, tenant string, typ scimtrail.ResourceType, id string, ifMatch string) (scimtrail.Receipt, error) {
	return scimtrail.Receipt{}, notYet()
}
func (s *Service) ListResources(ctx context.Context, tenant string, typ scimtrail.ResourceType, q ListQuery) (ListResult, error) {
	return ListResult{}, notYet()
}
func (s *Service) AuditEntries(ctx context.Context, tenant string, after int64, limit int, f scimtrail.EntryFilter) ([]scimtrail.StoredEntry, error) {
	return nil, notYet()
}
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }
