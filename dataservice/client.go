package dataservice

// Client is the data API of Herald's components: every part of it, one
// interface per concern. Service implements it in process, remote.Client
// over HTTP/2; every implementation behaves identically (clienttest holds
// the suite they all pass), so a component cannot tell which one it has.
//
// A component should depend on the parts it uses, not on Client: the
// connector's actors take an actors.Store (devices, sessions, messages,
// inboxes, broadcasts), a gateway node's claim a NodeClaims. Client is
// for what hands the data API around whole: the composition root (node),
// the remote server, and the gateway until it is split by concern.
type Client interface {
	AppStore
	DeviceStore
	DeviceIndex
	SessionStore
	MessageStore
	InboxStore
	BroadcastStore
	ReportStore
	SettleStore
	TaskStore
	ScheduleStore
	SegmentStore
	UpstreamStore
	WebhookStore
	ConnectorRegistry
	NodeClaims
	ConfigStore
	PortalStore
}
