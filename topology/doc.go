// Package topology is the language Weir programs are written in, and the
// deterministic task core that runs them.
//
// A program is built with a Builder: sources (StreamOf, TableOf,
// GlobalTableOf), operations on Stream and Table, sinks (To), and
// user processors (Process). Build checks the wiring and returns every
// mistake at once, joined; nothing panics on user error.
//
//	b := topology.New("shop")
//	orders := topology.StreamOf(b, "orders", codec.String(), orderSerde)
//	big := orders.Filter("big", func(_ string, o Order) bool { return o.Total > 100 })
//	topology.GroupByKey(big, codec.String(), orderSerde).Count("big-orders").
//		To("big-order-counts", codec.String(), codec.Int64())
//	topo, err := b.Build()
//
// Conventions:
//
//   - Operations that keep the key and value types are methods; those that
//     change them are package functions (Map, MapValues, FlatMap,
//     SelectKey, GroupBy, Aggregate, Process...), since Go methods cannot
//     add type parameters.
//   - Every operation takes a name, unique in the topology. Stateful ones
//     name their store after it, with changelog topic
//     <app>-<name>-changelog; repartitions use <app>-<name>-repartition.
//     Renaming an operation therefore renames its state: keep names
//     stable.
//   - Stateless user functions cannot fail; each has an ...E variant whose
//     function returns an error. Aggregators and processors always return
//     one. Such an error, a decode error, or a serde error counts as bad
//     input and follows the source's BadInputPolicy (dead-letter, skip or
//     fail). A store failure always stops the task (ErrStore). An error
//     wrapping codec.ErrRegistryUnavailable is an outage, never bad
//     input: the task reports ErrWaiting or ErrInterrupted instead.
//   - A key change (Map, SelectKey, FlatMap, Process) before a stateful
//     operation inserts a repartition topic, which starts a new
//     sub-topology.
//
// Windowed aggregations (WindowedBy with Tumbling, Hopping, Sliding or
// Session, always with an explicit Grace) and joins (JoinTable,
// JoinGlobal, JoinStreams, JoinTables and their Left/Outer forms) are
// described on Windows and JoinWindows.
//
// The runtime runs a Task per (sub-topology, partition): Add records,
// Process them one at a time, Punctuate with the wall clock, Commit (run
// the processors' commit hooks), TakeOutputs
// and Offsets, and commit. The Task does no I/O and reads no clock, so
// package topologytest drives the very same code without Kafka.
//
// INTERNALS.md describes the graph for those adding operations (windows,
// joins).
package topology
