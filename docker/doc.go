// Package docker holds no Go code: it is slotgate beside the deployment it replaces, a
// docker-compose Redis Cluster (six nodes on 7000-7005, masters 7000/7002/7004, password
// A12345!, AOF, maxmemory 2gb allkeys-lru) with slotgate on 22121, and the tests that run it.
//
// Files:
//   - docker-compose.yml: the six nodes, the one-shot redis-cluster-init service
//     (cluster-init.sh: masters on the even ports, each odd port the replica of the port
//     below it) and slotgate (admin on 22122), all with network_mode host.
//   - docker-compose.scale.yml: a second slotgate (22131) and HAProxy (22120, haproxy.cfg:
//     TCP mode, option redis-check) in front of both.
//   - Dockerfile (FROM scratch, the static binary built on the host), Dockerfile.golang (a
//     multi-stage build for machines with a registry), build-images.sh (make docker-images),
//     mkimage-redis.sh and mkimage-haproxy.sh (images from the host's binaries through
//     docker import; hostimage.sh): nothing is ever pulled.
//   - start-cluster.sh, monitor-cluster.sh, stop-cluster.sh; with --local they run the same
//     cluster as processes (internal/cmd/devcluster) for machines without Docker.
//
// TestCompose runs the whole thing wherever a Docker daemon answers; TestLocalScripts runs
// the --local variant where none does (or with SLOTGATE_TEST_LOCAL=1). Both need the fixed
// ports 7000-7005, 17000-17005, 22121 and 22122 and skip, touching nothing, when any is busy
// (a `make run` cluster, say).
package docker
