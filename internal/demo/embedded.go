package demo

import (
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Embedded starts what is missing: a 3-broker kfake cluster when brokers
// is empty, an srfake registry when registry is empty. It returns the
// addresses to use and a function that stops what it started.
func Embedded(brokers []string, registry string, status io.Writer) ([]string, string, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if len(brokers) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			return nil, "", stop, fmt.Errorf("demo: embedded kafka: %w", err)
		}
		stops = append(stops, c.Close)
		brokers = c.ListenAddrs()
		fmt.Fprintf(status, "demo: embedded Kafka at %s\n", strings.Join(brokers, ","))
	}
	if registry == "" {
		reg := srfake.New()
		stops = append(stops, reg.Close)
		registry = reg.URL()
		fmt.Fprintf(status, "demo: embedded schema registry at %s\n", registry)
	}
	return brokers, registry, stop, nil
}
