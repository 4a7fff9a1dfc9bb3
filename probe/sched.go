package probe

import (
	"container/heap"
	"sync"
	"time"
)

// schedSlack is how early a node may be served: nodes due within it of
// the earliest one are served in the same wake-up, so nodes whose probes
// fall due close together cost one timer wake-up, not one each.
const schedSlack = time.Millisecond

// scheduler drives every watched node from one goroutine and one timer:
// a min-heap of nodes by the time their next probe falls due. When a node
// is due, fire is called for it (on the scheduler goroutine); fire probes
// or dials and puts the node back with its next due time (schedule).
//
// Lock order: a node's mu, then the scheduler's mu (schedule is called
// with the node's mu held); the scheduler never holds its mu while
// calling fire.
type scheduler struct {
	fire func(*node)

	mu    sync.Mutex
	heap  nodeHeap
	wake  chan struct{} // cap 1: the earliest due time moved earlier
	done  chan struct{}
	ended chan struct{}
	next  time.Time // what the goroutine's timer is set to; zero: no timer
}

func newScheduler(fire func(*node)) *scheduler {
	s := &scheduler{fire: fire, wake: make(chan struct{}, 1), done: make(chan struct{}), ended: make(chan struct{})}
	go s.run()
	return s
}

// schedule puts n in the heap to be fired at at (a zero at takes it out:
// nothing is due until an event schedules it again). The caller holds
// n.mu.
func (s *scheduler) schedule(n *node, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.IsZero() {
		if n.hidx >= 0 {
			heap.Remove(&s.heap, n.hidx)
		}
		return
	}
	if n.hidx >= 0 {
		if n.due.Equal(at) {
			return
		}
		n.due = at
		heap.Fix(&s.heap, n.hidx)
	} else {
		n.due = at
		heap.Push(&s.heap, n)
	}
	if s.next.IsZero() || at.Before(s.next) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// stop ends the scheduler goroutine and waits for it. Nodes still in the
// heap are not fired again.
func (s *scheduler) stop() {
	close(s.done)
	<-s.ended
}

func (s *scheduler) run() {
	defer close(s.ended)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var due []*node
	for {
		due = s.popDue(time.Now(), due[:0])
		for i, n := range due {
			s.fire(n)
			due[i] = nil
		}
		if len(due) > 0 {
			continue // firing took time: look again before sleeping
		}
		s.mu.Lock()
		if s.heap.Len() > 0 {
			s.next = s.heap[0].due
			timer.Reset(time.Until(s.next))
		} else {
			s.next = time.Time{}
		}
		s.mu.Unlock()
		select {
		case <-s.done:
			timer.Stop()
			return
		case <-timer.C:
		case <-s.wake:
			timer.Stop()
		}
	}
}

// popDue takes the nodes due by now (plus schedSlack) out of the heap.
func (s *scheduler) popDue(now time.Time, out []*node) []*node {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := now.Add(schedSlack)
	for s.heap.Len() > 0 && !s.heap[0].due.After(limit) {
		out = append(out, heap.Pop(&s.heap).(*node))
	}
	return out
}

// nodeHeap is a container/heap of nodes by due time; each node knows its
// index (hidx, -1 when out of the heap). Guarded by scheduler.mu.
type nodeHeap []*node

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h nodeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}

func (h *nodeHeap) Push(x any) {
	n := x.(*node)
	n.hidx = len(*h)
	*h = append(*h, n)
}

func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	n.hidx = -1
	*h = old[:len(old)-1]
	return n
}
