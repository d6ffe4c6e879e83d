// Package patch parses and applies SCIM PATCH requests (RFC 7644 §3.5.2). It is pure: it
// takes the stored document and the request, and returns the new document, without I/O.
//
// A Group's members never live in the document (they are membership rows, so that adding
// one member to a group of 100k never loads or rewrites the others); operations on members
// come back from Apply as MemberOps for the caller to run against the store.
package patch
