// Package node is Herald's composition root: it assembles the components
// into running processes and is the herald command line (Main).
//
// StartAll is `herald all`: store, dataservice, connector, batching writer
// and gateway in one process; StartDataservice, StartConnector and
// StartGateway are the distributed form's processes. The command line
// (cli.go), the in-process test server (node/nodetest) and the end-to-end
// tests all start these, so what tests start is what users run.
//
// node and cmd are the only packages that import every component; the
// layering test (layers_test.go) keeps it so.
package node
