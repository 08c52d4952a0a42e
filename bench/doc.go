// Package bench is herald-bench's engine: it drives a running Herald with
// simulated devices and API load, and reports what the run achieved and
// what it cost the server as one JSON object.
//
// Run takes Options naming a scenario:
//
//   - hold connects many idle devices and measures the server's resident
//     memory per connection and how fast it accepts connections;
//   - unicast pushes messages one device at a time through POST /v1/push and
//     measures delivery latency, loss and duplicates end to end, ACKs
//     included;
//   - broadcast pushes to every device at once (audience "all") and times
//     each push from the API call until every device has it, has sent its
//     ACK, and the server's report counts it delivered;
//   - tagpush tags every device, measures how fast the tag's members are
//     read from the tag index, and times pushes to the tag as broadcast
//     does, with how fast the push task resolved the audience;
//   - storm connects registered devices as fast as it can and measures
//     connections per second and the time from dial to WELCOME;
//   - churn keeps a share of devices disconnecting and reconnecting every
//     second while pushes go to random devices at --rate, and counts what
//     was lost or duplicated.
//
// Every scenario drives the REST API only, so it works against `herald
// all` and against the gateway of a cluster alike; in a cluster the server
// figures add up the gateway and the connectors (see Report).
//
// The devices are a fleet of internal/fleet, the device engine herald-bench
// shares with the end-to-end tests; the bench stamps every message it
// sends (fleet.Stamp) and counts what arrives: each (device, message)
// once, with the latency histogram. A process holds at most MaxDevices
// devices; with Options.Workers (or more devices than that) the run
// re-executes its binary as worker processes (WorkerEnv, RunWorker) that
// hold the clients, each dialing from its own share of the source
// addresses, and report every arrival and their counters to the parent
// (fleet.Workers), which counts the arrivals as its own handlers would, so
// every scenario runs unchanged.
//
// With Options.Cluster the run starts its own cluster of herald processes
// (dataservice, connectors, gateway) on loopback and stops it at the end.
//
// All REST calls (registration, dispatch, pushes, reports, runtime figures)
// share one cleartext HTTP/2 connection to the gateway. Device sockets are
// spread over source addresses (127.0.0.2 to 127.0.0.254 by default) so
// that tens of thousands of them do not exhaust one address's ephemeral
// ports.
//
// Concurrency: Run blocks until the scenario ends and may be called from
// several goroutines, each with its own Options. Message handlers run on
// the SDK's reading goroutines and only update atomic counters and
// preallocated slots; the bench starts no goroutine per device or per
// message.
package bench
