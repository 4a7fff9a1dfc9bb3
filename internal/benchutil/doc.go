// Package benchutil holds what the benchmark programs under internal/bench
// (and the lost-writes drill of internal/safety) share: polling with a
// deadline, child processes in their own process group, the working
// directory with a freshly built raftsentinel binary, the description of
// the machine, the configuration files of raftsentinel monitors, starting a
// group of monitors of either system (raftsentinel or Redis Sentinel) on
// loopback watching one master or many, the CPU run time and resident
// memory of a process, medians and log tails.
//
// It is for those programs and their tests only: errors are worded for a
// benchmark's report, and the process helpers are Linux only (process
// groups with a parent-death signal), like the benchmarks. Polling,
// medians, configuration rendering and the machine description build on
// every platform.
package benchutil
