package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/weirstream/weir/processor"
)

// clusterFlags are what the operator tools (reset, dlq) need to reach a
// cluster: -brokers and weir run's connection flags (TLS, SASL).
type clusterFlags struct {
	brokers string
	conn    *connectFlags
}

func addClusterFlags(fs *flag.FlagSet, getenv func(string) string) *clusterFlags {
	c := &clusterFlags{}
	fs.StringVar(&c.brokers, "brokers", getenv("WEIR_BROKERS"), "comma-separated Kafka brokers (env WEIR_BROKERS)")
	c.conn = addConnectFlags(fs)
	return c
}

// options are the processor options that connect as the flags say; tool
// prefixes the errors.
func (c *clusterFlags) options(tool string) ([]processor.Opt, error) {
	if c.brokers == "" {
		return nil, errors.New(tool + ": -brokers (or WEIR_BROKERS) is required")
	}
	co, err := c.conn.options()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tool, err)
	}
	return append([]processor.Opt{processor.SeedBrokers(splitList(c.brokers)...)}, co.processor...), nil
}
