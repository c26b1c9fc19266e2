package processor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/weirstream/weir/topology"
)

// ErrConfig wraps every configuration mistake found at start-up.
var ErrConfig = errors.New("processor: invalid configuration")

// Guarantee is the processing guarantee.
type Guarantee int

const (
	// ExactlyOnce puts outputs, changelog records and input offsets of a
	// commit in one Kafka transaction. The default.
	ExactlyOnce Guarantee = iota
	// AtLeastOnce flushes outputs and changelogs, then commits offsets:
	// a crash between the two replays records.
	AtLeastOnce
)

func (g Guarantee) String() string {
	switch g {
	case ExactlyOnce:
		return "exactly_once"
	case AtLeastOnce:
		return "at_least_once"
	}
	return fmt.Sprintf("Guarantee(%d)", int(g))
}

// Opt configures an App.
type Opt interface{ apply(*config) }

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

type config struct {
	brokers        []string
	stateDir       string
	clientMetrics  prometheus.Registerer // KafkaClientMetrics; nil: none
	commitInterval time.Duration
	guarantee      Guarantee
	log            *zap.Logger
	badInput       topology.BadInputPolicy
	instanceID     string
	static         bool // join with instanceID as group.instance.id
	txnTimeout     time.Duration
	restoreBatch   int
	metrics        Metrics
	advertise      string
	sessionTimeout time.Duration
	serverSide     bool
	maxTaskIdle    time.Duration
	keepMoved      time.Duration
	fetchPartition int32
	partitioner    Partitioner
	conn           connConfig
	pauseInitial   time.Duration
	pauseMax       time.Duration
	parallelism    int
	standbys       int
	maxWarmups     int
	acceptableLag  int64
}

// SeedBrokers sets the brokers to bootstrap from (host:port). Required.
func SeedBrokers(brokers ...string) Opt {
	return optFunc(func(c *config) { c.brokers = append(c.brokers, brokers...) })
}

// StateDir sets the directory that holds local state; the application's
// Pebble database lives in StateDir/<application id>.
// Default: $TMPDIR/weir.
func StateDir(dir string) Opt { return optFunc(func(c *config) { c.stateDir = dir }) }

// CommitInterval sets how often a worker commits. Default: 100ms.
func CommitInterval(d time.Duration) Opt {
	return optFunc(func(c *config) { c.commitInterval = d })
}

// ProcessingGuarantee sets the guarantee. Default: ExactlyOnce.
func ProcessingGuarantee(g Guarantee) Opt { return optFunc(func(c *config) { c.guarantee = g }) }

// Logger sets the logger. Default: zap.NewNop().
func Logger(l *zap.Logger) Opt { return optFunc(func(c *config) { c.log = l }) }

// BadInput sets what happens to records that cannot be decoded or that
// make a user function fail, for sources that set no policy of their own.
// Default: the task's default, documented at topology.BadInputPolicy
// (dead-letter to <application id>-dlq), as in the test driver.
func BadInput(p topology.BadInputPolicy) Opt { return optFunc(func(c *config) { c.badInput = p }) }

// InstanceID names this worker in transactional ids and logs. It must be
// unique among the running workers of an application; with StaticMember,
// also stable across restarts. Default: host name, process id and a
// random suffix.
func InstanceID(id string) Opt { return optFunc(func(c *config) { c.instanceID = id }) }

// StaticMember makes the worker a static member of the group, with its
// InstanceID as group.instance.id (KIP-345), as Kafka Streams does when
// group.instance.id is set: restarted within the session timeout, it
// gets its tasks back without a rebalance and resumes from its local
// state. The cost: a stop does not leave the group, so the tasks of a
// worker stopped for good move only after the session timeout. It needs
// an explicit InstanceID. Default: off (dynamic membership).
func StaticMember() Opt { return optFunc(func(c *config) { c.static = true }) }

// TransactionTimeout bounds how long a dead worker's open transaction
// holds back readers before the broker aborts it. Default: 10s, as in
// Kafka Streams under exactly-once.
func TransactionTimeout(d time.Duration) Opt {
	return optFunc(func(c *config) { c.txnTimeout = d })
}

// RestoreBatch sets how many changelog records are applied to local state
// per atomic write during restoration. Default: 10000.
func RestoreBatch(n int) Opt { return optFunc(func(c *config) { c.restoreBatch = n }) }

// AdvertisedAddress is the host:port where this worker serves
// interactive queries; every worker learns every other's through the
// group protocol. Default: none.
func AdvertisedAddress(hostPort string) Opt {
	return optFunc(func(c *config) { c.advertise = hostPort })
}

// SessionTimeout is how long the group waits for a silent worker (a
// crashed process) before giving its tasks to others. Default: 45s, as
// Kafka's consumers.
func SessionTimeout(d time.Duration) Opt { return optFunc(func(c *config) { c.sessionTimeout = d }) }

// ServerSideAssignment uses KIP-848 consumer groups (Kafka 4.0+, 4.3+
// recommended): the broker's range assignor places partition N of every
// topic on one member, which keeps a task's co-partitioned inputs
// together. Member metadata has no user data there, so workers do not
// learn each other's AdvertisedAddress. Default: off (Weir's own
// cooperative, sticky, task-aware balancer).
func ServerSideAssignment() Opt { return optFunc(func(c *config) { c.serverSide = true }) }

// MaxTaskIdle says how long a task with records to process waits on an
// input partition that has none buffered. A task first waits until the
// partition is caught up (the worker has read it to its last stable
// offset), so records already in Kafka merge in event-time order and a
// replay of the same input gives the same results; it then waits d more
// for records still being produced. Negative: never wait, for the lowest
// latency, giving up that determinism. Checked at least once per commit
// interval. Default: 0, as Kafka Streams' max.task.idle.ms.
func MaxTaskIdle(d time.Duration) Opt { return optFunc(func(c *config) { c.maxTaskIdle = d }) }

// FetchMaxPartitionBytes bounds what one fetch returns per input
// partition. Smaller values spread memory across partitions and make
// tasks wait on each other more often. Default: 1 MiB, as Kafka's
// consumers.
func FetchMaxPartitionBytes(n int32) Opt { return optFunc(func(c *config) { c.fetchPartition = n }) }

// DependencyBackoff sets how a task paused by an unavailable dependency
// (a schema registry outage: a record's schema id is not cached and the
// registry cannot be reached) is retried: first after initial, doubling up
// to max. The task stops taking records meanwhile, its records are held
// back from offset commits, and the worker's other tasks go on; nothing is
// dead-lettered for an outage. Default: 100ms and 5s.
func DependencyBackoff(initial, max time.Duration) Opt {
	return optFunc(func(c *config) { c.pauseInitial, c.pauseMax = initial, max })
}

// Parallelism sets how many goroutines process a worker's tasks within
// one transaction. A task is only ever run by one goroutine at a time and
// its core stays single-threaded, so results do not depend on n; the
// worker's outputs are produced in the same task order whatever n is.
// n must be at least 1. Default: runtime.GOMAXPROCS(0) at New.
func Parallelism(n int) Opt { return optFunc(func(c *config) { c.parallelism = n }) }

// KeepMovedState sets how long a worker keeps the local state of a task
// that moved away (with its checkpoint), as Kafka Streams'
// state.cleanup.delay.ms: if the task comes back meanwhile, only the
// changelog tail written since it left is restored, not the whole
// changelog. State left in the directory by an earlier run, of tasks not
// assigned now, counts as moved away at start-up. 0 drops it at once.
// Default: 10 minutes.
func KeepMovedState(d time.Duration) Opt { return optFunc(func(c *config) { c.keepMoved = d }) }

// Standbys sets how many standby replicas each stateful task has, as
// Kafka Streams' num.standby.replicas: other workers follow the task's
// changelogs into their own local state, so that when the task must
// move (its worker died for good, or left) it goes to a replica and
// restores only what the replica had not read yet. Each replica costs
// its worker the disk of the task's state and the reading of its
// changelogs. Default: 0.
func Standbys(n int) Opt { return optFunc(func(c *config) { c.standbys = n }) }

// Warmup sets how tasks move to a worker that lacks their state, as
// Kafka Streams' max.warmup.replicas and acceptable.recovery.lag
// (KIP-441): a task that would move to a worker more than acceptableLag
// changelog records behind stays where it is while that worker warms
// up a replica (at most maxReplicas at a time in the group); the worker
// asks for a rebalance once within the bound, and the task moves then.
// Scaling out thus never stops a task for a full restore. maxReplicas 0
// moves tasks at once, whatever they must restore.
// Default: 2 replicas, 10,000 records.
func Warmup(maxReplicas int, acceptableLag int64) Opt {
	return optFunc(func(c *config) { c.maxWarmups, c.acceptableLag = maxReplicas, acceptableLag })
}

// WithMetrics sets the metrics sink (see also PauseMetrics). Default: none.
func WithMetrics(m Metrics) Opt { return optFunc(func(c *config) { c.metrics = m }) }

func newConfig(opts []Opt) (config, error) {
	c := config{
		stateDir:       defaultStateDir(),
		commitInterval: 100 * time.Millisecond,
		guarantee:      ExactlyOnce,
		txnTimeout:     10 * time.Second,
		restoreBatch:   10000,
		sessionTimeout: 45 * time.Second,
		keepMoved:      10 * time.Minute,
		fetchPartition: 1 << 20,
		pauseInitial:   100 * time.Millisecond,
		pauseMax:       5 * time.Second,
		parallelism:    runtime.GOMAXPROCS(0),
		maxWarmups:     2,
		acceptableLag:  10000,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.metrics == nil {
		c.metrics = noMetrics{}
	}
	named := c.instanceID != ""
	if !named {
		host, _ := os.Hostname()
		c.instanceID = fmt.Sprintf("%s-%d-%x", host, os.Getpid(), time.Now().UnixNano()&0xffffff)
	}
	var errs []error
	if c.static && !named {
		errs = append(errs, fmt.Errorf("%w: StaticMember needs an InstanceID stable across restarts: pass processor.InstanceID (weir run -instance)", ErrConfig))
	}
	if len(c.brokers) == 0 {
		errs = append(errs, fmt.Errorf("%w: no seed brokers: pass processor.SeedBrokers(\"host:9092\")", ErrConfig))
	}
	if c.stateDir == "" {
		errs = append(errs, fmt.Errorf("%w: empty state directory: pass processor.StateDir(dir) or leave it unset", ErrConfig))
	}
	if c.commitInterval <= 0 {
		errs = append(errs, fmt.Errorf("%w: commit interval %v: must be positive (default 100ms)", ErrConfig, c.commitInterval))
	}
	if c.guarantee != ExactlyOnce && c.guarantee != AtLeastOnce {
		errs = append(errs, fmt.Errorf("%w: unknown processing guarantee %v", ErrConfig, c.guarantee))
	}
	if c.txnTimeout < time.Second {
		errs = append(errs, fmt.Errorf("%w: transaction timeout %v: use at least 1s (default 10s)", ErrConfig, c.txnTimeout))
	}
	if c.keepMoved < 0 {
		errs = append(errs, fmt.Errorf("%w: KeepMovedState %v: must not be negative (0 drops a moved task's state at once; default 10m)", ErrConfig, c.keepMoved))
	}
	if c.standbys < 0 {
		errs = append(errs, fmt.Errorf("%w: Standbys(%d): must not be negative (default 0)", ErrConfig, c.standbys))
	}
	if c.maxWarmups < 0 || c.acceptableLag < 0 {
		errs = append(errs, fmt.Errorf("%w: Warmup(%d, %d): neither may be negative (default 2, 10000)", ErrConfig, c.maxWarmups, c.acceptableLag))
	}
	if c.serverSide && c.standbys > 0 {
		errs = append(errs, fmt.Errorf("%w: Standbys(%d) needs Weir's own assignor: drop ServerSideAssignment", ErrConfig, c.standbys))
	}
	if c.sessionTimeout < time.Second {
		errs = append(errs, fmt.Errorf("%w: session timeout %v: use at least 1s (default 45s)", ErrConfig, c.sessionTimeout))
	}
	if c.fetchPartition <= 0 {
		errs = append(errs, fmt.Errorf("%w: fetch max partition bytes %d: must be positive (default 1 MiB)", ErrConfig, c.fetchPartition))
	}
	if c.pauseInitial <= 0 || c.pauseMax < c.pauseInitial {
		errs = append(errs, fmt.Errorf("%w: DependencyBackoff(%v, %v): initial must be positive and max at least initial (default 100ms, 5s)", ErrConfig, c.pauseInitial, c.pauseMax))
	}
	if c.parallelism < 1 {
		errs = append(errs, fmt.Errorf("%w: Parallelism(%d): must be at least 1 (default GOMAXPROCS, %d here)", ErrConfig, c.parallelism, runtime.GOMAXPROCS(0)))
	}
	if c.restoreBatch <= 0 {
		errs = append(errs, fmt.Errorf("%w: restore batch %d: must be positive (default 10000)", ErrConfig, c.restoreBatch))
	}
	if c.partitioner != Murmur2 && c.partitioner != CRC32 {
		errs = append(errs, fmt.Errorf("%w: unknown input partitioner %v: use processor.Murmur2 or processor.CRC32", ErrConfig, c.partitioner))
	}
	errs = append(errs, c.validateConn()...)
	return c, errors.Join(errs...)
}

// InputPartitioner says how the producers of the input topics choose a
// key's partition, so that queries (Get) look for a key in the task that
// holds it: Murmur2 for Java clients, CRC32 for librdkafka-based ones
// (Python, C/C++, .NET, confluent-kafka-go) with default settings. Each
// worker counts input records found on another partition than this
// partitioner gives their key (see MispartitionMetrics) and logs one
// warning per topic naming the partitioner that would match, so a wrong
// setting shows. Weir's own keyed outputs and repartition topics use
// murmur2 whatever this says. Default: Murmur2.
func InputPartitioner(p Partitioner) Opt { return optFunc(func(c *config) { c.partitioner = p }) }

// defaultStateDir is StateDir's default: weir under the system's
// temporary directory.
func defaultStateDir() string { return filepath.Join(os.TempDir(), "weir") }
