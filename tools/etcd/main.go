// Command etcd is a real etcd server built from the etcd version pinned in go.mod,
// so that tests and `make test` need no prebuilt binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
