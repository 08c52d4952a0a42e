// Package fleet simulates many Herald devices with the Go SDK. It is the
// one device engine of herald-bench and of the end-to-end tests' load
// processes: it registers devices (with their tags and alias), connects
// them from ranges of source addresses with a bound on the dials in
// flight, disconnects, churns and reconnects them, has them send upstream
// messages on a schedule, and reports every message handed to a device's
// handler as an Arrival, beside counters of the whole fleet (Stats).
//
// A Fleet holds its devices in this process (NewLocal) or in worker
// processes (StartWorkers): a process may open at most 20,000 files and
// holds one socket per device, and a test process under the race detector
// should not hold thousands of clients. A worker process is any program
// whose main calls WorkerMain (herald-bench re-executes itself; the
// end-to-end tests build e2e/loadproc). The parent and its workers speak
// JSON lines over the workers' stdin and stdout (protocol.go); the parent
// hands on the arrivals and errors its workers report as a Local fleet
// would, and sums their counters, so a Fleet's user does not see where its
// devices are.
//
// Devices are named by global index everywhere: a Local fleet holds the
// devices Config.First to First+n-1, and each worker process a contiguous
// range of them.
//
// Stamps (Stamp, AppendStamp, ParseStamp) are how a load generator
// recognizes its own messages: the device a message is for, its sequence
// number and its send time, written into its extras. A Stamped fleet checks
// them on arrival and reports them with the Arrival.
//
// Concurrency: a Fleet's methods may be called from several goroutines,
// except that Connect, Disconnect and Close must not overlap each other or
// Churn on the same devices. Config.OnArrival and Config.OnError are called
// on the SDK's reading goroutines (for a fleet held by workers, on the
// goroutine reading that worker's reports) and must not block. Per
// message, the fleet touches only atomics and memory allocated up front,
// and it starts no goroutine per device beyond the SDK client's own.
package fleet
