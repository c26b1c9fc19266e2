package state_test

import (
	"testing"

	"github.com/weirstream/weir/state"
	"github.com/weirstream/weir/state/statetest"
)

func TestMemoryConformance(t *testing.T) {
	statetest.RunKeyValueStoreTests(t, func(*testing.T) state.KeyValueStore { return state.NewMemory() })
}

func newMemory(*testing.T) state.KeyValueStore { return state.NewMemory() }

func TestWindowStoreModel(t *testing.T)  { statetest.RunWindowStoreModel(t, newMemory) }
func TestSessionStoreModel(t *testing.T) { statetest.RunSessionStoreModel(t, newMemory) }
