//go:build race

package processor_test

// raceOn says the tests run under the race detector, which makes the
// runtime several times slower.
const raceOn = true
