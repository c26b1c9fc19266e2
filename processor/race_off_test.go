//go:build !race

package processor_test

const raceOn = false
