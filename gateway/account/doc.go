// Package account is who may use the portal and what they may do: portal
// users and their passwords (argon2id), login sessions and the limits on
// failed logins, users' roles on apps and the members of an app, and the
// apps' audit logs. It keeps everything through a dataservice.PortalStore
// and speaks no HTTP: the gateway's handlers and gateway/api's
// authentication call it and turn its errors into answers.
//
// Passwords are hashed with argon2id (m=19 MiB, t=2, p=1, a 16-byte salt)
// and kept as PHC strings; a session token is 32 random bytes, given to
// the user once, of which the store keeps only the SHA-256. Login failures
// are counted per account and per client address in the store, so every
// gateway sees them.
//
// Concurrency: an Accounts is safe for concurrent use. Password hashing
// takes tens of milliseconds and 19 MiB; at most a few hashes run at once
// and the others wait, and logins of one account on one gateway run one
// at a time, so that a burst of guesses cannot outrun the failure count.
package account
