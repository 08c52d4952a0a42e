// Package runtimestats reads the figures a Herald process reports about
// itself: resident memory, heap, goroutines, GC pauses and CPU time. The
// benchmark driver reads them to say what a result cost.
package runtimestats
