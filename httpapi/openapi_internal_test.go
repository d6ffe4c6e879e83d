package httpapi

// AreaKinds is the token kinds that mayUse admits for the area whose value is i; the
// OpenAPI test reads each route's area from the source and checks that the document lists
// exactly these kinds for the route's operation.
func AreaKinds(i int) []string {
	var kinds []string
	for _, k := range mayUse[area(i)] {
		kinds = append(kinds, string(k))
	}
	return kinds
}
