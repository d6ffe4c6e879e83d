//go:build race

package main

// raceDetector is true when the tests run with -race, which makes large in-process
// workloads several times slower; tests use it to size themselves, never to skip.
const raceDetector = true
