package resp

import (
	"sort"
	"sync"
)

// Hub is the Pub/Sub registry of one Server: which connections are
// subscribed to which channels and patterns. The server maintains it from
// the SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE and PUNSUBSCRIBE commands;
// producers call Publish.
//
// Concurrency: all methods are safe for concurrent use. Subscription
// changes and their confirmations are made under one lock that Publish
// also takes, so a client never receives a message for a channel before
// the confirmation of its subscription, nor after the confirmation of its
// unsubscription. Messages from one goroutine's successive Publish calls
// reach each client in call order.
type Hub struct {
	mu       sync.RWMutex
	channels map[string]map[*Conn]struct{}
	patterns map[string]map[*Conn]struct{}
}

func newHub() *Hub {
	return &Hub{
		channels: map[string]map[*Conn]struct{}{},
		patterns: map[string]map[*Conn]struct{}{}}
}

// Publish sends message on channel to every client subscribed to the
// channel and to every matching pattern subscription (a client with both
// receives it twice, as in Redis). It returns the number of deliveries
// queued. It never blocks on a client: a client whose output queue is full
// is disconnected instead (see Conn).
func (h *Hub) Publish(channel, message string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	if subs := h.channels[channel]; len(subs) > 0 {
		var frames [2][]byte // by protocol: [0] RESP2, [1] RESP3
		for c := range subs {
			i, proto := protoIndex(c)
			if frames[i] == nil {
				f := appendPushHeader(nil, proto, 3)
				f = appendBulkString(f, "message")
				f = appendBulkString(f, channel)
				frames[i] = appendBulkString(f, message)
			}
			if c.push(frames[i]) {
				n++
			}
		}
	}
	for pat, subs := range h.patterns {
		if len(subs) == 0 || !Match(pat, channel) {
			continue
		}
		var frames [2][]byte
		for c := range subs {
			i, proto := protoIndex(c)
			if frames[i] == nil {
				f := appendPushHeader(nil, proto, 4)
				f = appendBulkString(f, "pmessage")
				f = appendBulkString(f, pat)
				f = appendBulkString(f, channel)
				frames[i] = appendBulkString(f, message)
			}
			if c.push(frames[i]) {
				n++
			}
		}
	}
	return n
}

func protoIndex(c *Conn) (int, int) {
	if p := c.Proto(); p == 3 {
		return 1, 3
	}
	return 0, 2
}

// Counts returns the number of channels and patterns with at least one
// subscriber (INFO's pubsub_channels and pubsub_patterns).
func (h *Hub) Counts() (channels, patterns int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.channels), len(h.patterns)
}

// subscribe adds c to each name (channels, or patterns when pattern) and
// queues one confirmation per name: [subscribe|psubscribe, name, count].
func (h *Hub) subscribe(c *Conn, names [][]byte, pattern bool) {
	kind, reg, own := "subscribe", h.channels, c.channels
	if pattern {
		kind, reg, own = "psubscribe", h.patterns, c.patterns
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range names {
		name := string(b)
		if _, ok := own[name]; !ok {
			own[name] = struct{}{}
			subs := reg[name]
			if subs == nil {
				subs = map[*Conn]struct{}{}
				reg[name] = subs
			}
			subs[c] = struct{}{}
			c.nsubs.Add(1)
		}
		c.buf = appendSubReply(c.buf, c.Proto(), kind, name, true, c.Subscriptions())
	}
	c.flush(false)
}

// unsubscribe removes c from each name, or from all its channels (patterns)
// when names is empty, and queues one confirmation per name:
// [unsubscribe|punsubscribe, name, count]. With nothing to remove from, a
// single confirmation with a null name is sent.
func (h *Hub) unsubscribe(c *Conn, names [][]byte, pattern bool) {
	kind, reg, own := "unsubscribe", h.channels, c.channels
	if pattern {
		kind, reg, own = "punsubscribe", h.patterns, c.patterns
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var list []string
	if len(names) == 0 {
		for name := range own {
			list = append(list, name)
		}
		sort.Strings(list)
		if len(list) == 0 {
			c.buf = appendSubReply(c.buf, c.Proto(), kind, "", false, c.Subscriptions())
		}
	} else {
		for _, b := range names {
			list = append(list, string(b))
		}
	}
	for _, name := range list {
		h.remove(c, reg, own, name)
		c.buf = appendSubReply(c.buf, c.Proto(), kind, name, true, c.Subscriptions())
	}
	c.flush(false)
}

// remove deletes c's subscription to name from reg and own, if present.
// Caller holds h.mu.
func (h *Hub) remove(c *Conn, reg map[string]map[*Conn]struct{}, own map[string]struct{}, name string) {
	if _, ok := own[name]; !ok {
		return
	}
	delete(own, name)
	if subs := reg[name]; subs != nil {
		delete(subs, c)
		if len(subs) == 0 {
			delete(reg, name)
		}
	}
	c.nsubs.Add(-1)
}

// drop removes every subscription of c (connection closed).
func (h *Hub) drop(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range c.channels {
		h.remove(c, h.channels, c.channels, name)
	}
	for name := range c.patterns {
		h.remove(c, h.patterns, c.patterns, name)
	}
}

// appendSubReply appends a (un)subscription confirmation: a 3-element push
// (RESP3 >3, RESP2 *3) of kind, name (null when !hasName) and count.
func appendSubReply(b []byte, proto int, kind, name string, hasName bool, count int) []byte {
	b = appendPushHeader(b, proto, 3)
	b = appendBulkString(b, kind)
	if hasName {
		b = appendBulkString(b, name)
	} else {
		b = appendNull(b, proto)
	}
	return appendInt(b, int64(count))
}
