// Package h2c sets up HTTP between Herald's components and for its REST
// API: servers that speak HTTP/1.1 and cleartext HTTP/2 (prior knowledge)
// on one port, and the client transport for calls between components.
package h2c
