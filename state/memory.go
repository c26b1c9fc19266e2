package state

import (
	"bytes"
	"sync"
)

// NewMemory returns an empty ordered in-memory KeyValueStore.
//
// It is a skip list with a fixed random seed, so the same operations
// always build the same structure. It is safe for concurrent use.
//
// Writes made while an iterator is open are allowed: the iterator goes on
// from its current key and sees the store as it is at each Next, for keys
// after the current one (what every backend in this module does).
func NewMemory() KeyValueStore { return newSkipList() }

const maxLevel = 24

type skipNode struct {
	key, value []byte
	next       []*skipNode
	links      [4]*skipNode // next's array when it fits (newNode)
}

// skipList is the ordered structure under the memory store and the
// pending overlay.
type skipList struct {
	mu      sync.RWMutex
	head    skipNode
	level   int
	rnd     uint64
	n       int
	version uint64 // bumped when nodes are linked or unlinked
}

func newSkipList() *skipList {
	s := &skipList{level: 1, rnd: 0x9E3779B97F4A7C15}
	s.head.next = make([]*skipNode, maxLevel)
	return s
}

// randomLevel draws a level with p = 1/4 from a seeded xorshift generator.
func (s *skipList) randomLevel() int {
	lvl := 1
	for lvl < maxLevel {
		s.rnd ^= s.rnd << 13
		s.rnd ^= s.rnd >> 7
		s.rnd ^= s.rnd << 17
		if s.rnd&3 != 0 {
			break
		}
		lvl++
	}
	return lvl
}

// findGE returns the first node with key >= key (nil if none) and fills
// prev, if given, with the last node before it at every level.
func (s *skipList) findGE(key []byte, prev []*skipNode) *skipNode {
	x := &s.head
	for i := s.level - 1; i >= 0; i-- {
		for x.next[i] != nil && bytes.Compare(x.next[i].key, key) < 0 {
			x = x.next[i]
		}
		if prev != nil {
			prev[i] = x
		}
	}
	return x.next[0]
}

// seekGE returns the first node with key >= key; a nil key means the first.
func (s *skipList) seekGE(key []byte) *skipNode {
	if key == nil {
		return s.head.next[0]
	}
	return s.findGE(key, nil)
}

// seekGT returns the first node with key > key.
func (s *skipList) seekGT(key []byte) *skipNode {
	n := s.findGE(key, nil)
	if n != nil && bytes.Equal(n.key, key) {
		n = n.next[0]
	}
	return n
}

func (s *skipList) get(key []byte) (*skipNode, bool) {
	n := s.findGE(key, nil)
	if n != nil && bytes.Equal(n.key, key) {
		return n, true
	}
	return nil, false
}

// set inserts or replaces key and returns its node.
func (s *skipList) set(key, value []byte) *skipNode {
	var prev [maxLevel]*skipNode
	n := s.findGE(key, prev[:])
	if n != nil && bytes.Equal(n.key, key) {
		n.value = value
		return n
	}
	lvl := s.randomLevel()
	if lvl > s.level {
		for i := s.level; i < lvl; i++ {
			prev[i] = &s.head
		}
		s.level = lvl
	}
	n = newNode(lvl)
	n.key, n.value = key, value
	for i := 0; i < lvl; i++ {
		n.next[i] = prev[i].next[i]
		prev[i].next[i] = n
	}
	s.n++
	s.version++
	return n
}

func (s *skipList) delete(key []byte) bool {
	var prev [maxLevel]*skipNode
	n := s.findGE(key, prev[:])
	if n == nil || !bytes.Equal(n.key, key) {
		return false
	}
	for i := range n.next {
		prev[i].next[i] = n.next[i]
	}
	s.n--
	s.version++
	return true
}

// deleteRange unlinks every node in [start, end); a nil end means to the
// last key.
func (s *skipList) deleteRange(start, end []byte) {
	if end != nil && bytes.Compare(start, end) >= 0 {
		return
	}
	var prev [maxLevel]*skipNode
	n := s.findGE(start, prev[:])
	for n != nil && (end == nil || bytes.Compare(n.key, end) < 0) {
		for i := range n.next {
			prev[i].next[i] = n.next[i]
		}
		s.n--
		s.version++
		n = n.next[0]
	}
}

func (s *skipList) reset() {
	for i := range s.head.next {
		s.head.next[i] = nil
	}
	s.level = 1
	s.n = 0
	s.version++
}

// newNode returns a node of lvl levels. Up to four (all but 1 in 256
// nodes) its links live in the node: one allocation, not two.
func newNode(lvl int) *skipNode {
	n := &skipNode{}
	if lvl <= len(n.links) {
		n.next = n.links[:lvl]
	} else {
		n.next = make([]*skipNode, lvl)
	}
	return n
}

// KeyValueStore methods: the memory store is the locked skip list.

func (s *skipList) Get(key []byte) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.get(key)
	if !ok {
		return nil, false, nil
	}
	return n.value, true, nil
}

func (s *skipList) Put(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	s.mu.Lock()
	s.set(key, value)
	s.mu.Unlock()
	return nil
}

func (s *skipList) Delete(key []byte) error {
	s.mu.Lock()
	s.delete(key)
	s.mu.Unlock()
	return nil
}

func (s *skipList) DeleteRange(start, end []byte) error {
	s.mu.Lock()
	s.deleteRange(start, end)
	s.mu.Unlock()
	return nil
}

func (s *skipList) Range(start, end []byte) Iterator {
	return &memIter{s: s, start: start, end: end}
}

type memIter struct {
	s          *skipList
	start, end []byte
	cur        *skipNode
	key, value []byte
	version    uint64
	started    bool
	done       bool
}

func (it *memIter) Next() bool {
	if it.done {
		return false
	}
	it.s.mu.RLock()
	defer it.s.mu.RUnlock()
	var n *skipNode
	switch {
	case !it.started:
		it.started = true
		n = it.s.seekGE(it.start)
	case it.version != it.s.version:
		// The list changed under us: cur may be unlinked, so find the
		// successor of its key afresh.
		n = it.s.seekGT(it.key)
	default:
		n = it.cur.next[0]
	}
	it.version = it.s.version
	if n == nil || (it.end != nil && bytes.Compare(n.key, it.end) >= 0) {
		it.done = true
		it.cur, it.key, it.value = nil, nil, nil
		return false
	}
	it.cur, it.key, it.value = n, n.key, n.value
	return true
}

func (it *memIter) Key() []byte   { return it.key }
func (it *memIter) Value() []byte { return it.value }
func (it *memIter) Err() error    { return nil }
func (it *memIter) Close() error {
	it.done = true
	it.cur = nil
	return nil
}
