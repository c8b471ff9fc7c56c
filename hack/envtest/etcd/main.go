// Command etcd is etcd's own server (etcdmain), built at the version this
// module pins for the tests' API server (hack/envtest/build.sh).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
