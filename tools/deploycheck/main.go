// Command deploycheck validates the deployment files offline, for make
// lint: docker-compose.yml through the Compose loader with the compose
// spec's schema (compose-go, what docker compose itself uses), and every
// manifest under deploy/k8s decoded strictly into its k8s.io/api type
// plus checks the API server would make.
//
// Not kubeconform: it downloads its JSON schemas from GitHub at run time,
// which neither developers' machines nor CI can reach. The k8s.io/api
// types are the schema, from the Go module proxy like any module.
//
// It is its own module (tools/deploycheck/go.mod) so the weir module does
// not take on compose-go and k8s.io dependencies.
//
//	cd tools/deploycheck && go run . -root ../..
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	root := flag.String("root", ".", "the repository root: docker-compose.yml and deploy/k8s/ are found under it")
	flag.Parse()
	errs := checkAll(*root)
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, "deploycheck:", err)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	fmt.Println("deploycheck: docker-compose.yml and deploy/k8s are valid")
}

// checkAll checks the compose file and the Kubernetes manifests of the
// repository at root.
func checkAll(root string) []error {
	var errs []error
	errs = append(errs, checkCompose(root, "docker-compose.yml")...)
	errs = append(errs, checkK8sDir(root, "deploy/k8s")...)
	return errs
}
