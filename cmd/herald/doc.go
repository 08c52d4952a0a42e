// Command herald runs Herald: every component in one process (herald all,
// the default), or one of them (herald dataservice, connector, gateway).
// It only calls node.Main; see "herald help".
package main
