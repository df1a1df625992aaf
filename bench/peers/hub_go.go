// SPDX-License-Identifier: MIT
// bench/peers/hub_go.go: the hub workloads of bench/hub.c in Go (Debian golang-go 1.19),
// run with GOMAXPROCS=1.  Protocol of every peer: one line per figure, "<metric> <value>
// <unit>".
//
//	hub_go micro MS        the four operations, each timed over a batch of ~MS ms
//	hub_go sleepers N      N goroutines, all alive at once, each sleeping 10 ms
//
// Go has no Event: the Event ping-pong is a mutex, two condition variables and two flags,
// the closest equivalent; the Queue ping-pong uses channels with a buffer of 1.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The operations are timed in process CPU time (user + system, as every peer): wall time
// would count the time other jobs held the CPU.  The sleepers' wall time is wall time.
type cpuStamp struct{ ns int64 }

func cpuNow() cpuStamp {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuStamp{ru.Utime.Nano() + ru.Stime.Nano()}
}

func cpuSince(t cpuStamp) time.Duration { return time.Duration(cpuNow().ns - t.ns) }

func spawnJoin(n int) time.Duration {
	var wg sync.WaitGroup
	t := cpuNow()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	return cpuSince(t)
}

func yieldRoundTrip(n int) time.Duration {
	var wg sync.WaitGroup
	yielder := func() {
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		wg.Done()
	}
	wg.Add(2)
	t := cpuNow()
	go yielder()
	go yielder()
	wg.Wait()
	return cpuSince(t)
}

func eventPingPong(n int) time.Duration {
	var mu sync.Mutex
	c1, c2 := sync.NewCond(&mu), sync.NewCond(&mu)
	f1, f2 := false, false
	var wg sync.WaitGroup
	wg.Add(2)
	t := cpuNow()
	go func() { // pong
		for i := 0; i < n; i++ {
			mu.Lock()
			for !f1 {
				c1.Wait()
			}
			f1, f2 = false, true
			c2.Signal()
			mu.Unlock()
		}
		wg.Done()
	}()
	go func() { // ping
		for i := 0; i < n; i++ {
			mu.Lock()
			f1 = true
			c1.Signal()
			for !f2 {
				c2.Wait()
			}
			f2 = false
			mu.Unlock()
		}
		wg.Done()
	}()
	wg.Wait()
	return cpuSince(t)
}

func queuePingPong(n int) time.Duration {
	q1, q2 := make(chan int, 1), make(chan int, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	t := cpuNow()
	go func() { // pong
		for i := 0; i < n; i++ {
			q2 <- <-q1
		}
		wg.Done()
	}()
	go func() { // ping
		for i := 0; i < n; i++ {
			q1 <- i
			<-q2
		}
		wg.Done()
	}()
	wg.Wait()
	return cpuSince(t)
}

// ns per operation over one batch of about ms milliseconds (the growing runs warm up).
func batchNs(fn func(int) time.Duration, ms float64) float64 {
	n := 64
	var d time.Duration
	for {
		d = fn(n)
		if d.Seconds()*1e3 >= ms/4 {
			break
		}
		n *= 4
	}
	n = int(float64(n) * ms / 1e3 / d.Seconds())
	if n < 64 {
		n = 64
	}
	return float64(fn(n).Nanoseconds()) / float64(n)
}

func statusKB(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), key+":") {
			v, _ := strconv.ParseInt(strings.Fields(s.Text())[1], 10, 64)
			return v
		}
	}
	return -1
}

func sleepers(n int) {
	rss0 := statusKB("VmRSS")
	var wg sync.WaitGroup
	var mu sync.Mutex
	live, maxLive := 0, 0
	allStarted, start := make(chan struct{}), make(chan struct{})
	wg.Add(n)
	t := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			mu.Lock()
			live++
			if live > maxLive {
				maxLive = live
			}
			if live == n {
				close(allStarted)
			}
			mu.Unlock()
			<-start
			time.Sleep(10 * time.Millisecond)
			mu.Lock()
			live--
			mu.Unlock()
			wg.Done()
		}()
	}
	<-allStarted
	close(start)
	wg.Wait()
	wall := time.Since(t)
	peak := statusKB("VmHWM")
	fmt.Printf("sleepers_max_alive %d tasks\n", maxLive)
	fmt.Printf("sleepers_wall %.1f ms\n", wall.Seconds()*1e3)
	fmt.Printf("sleepers_rss_before %d B\n", rss0*1024)
	fmt.Printf("sleepers_peak_rss %d B\n", peak*1024)
	fmt.Printf("sleepers_per_task %.1f B\n", float64(peak-rss0)*1024/float64(n))
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: hub_go micro MS | sleepers N")
		os.Exit(2)
	}
	if runtime.GOMAXPROCS(0) != 1 {
		fmt.Fprintln(os.Stderr, "hub_go: warning: GOMAXPROCS is", runtime.GOMAXPROCS(0))
	}
	if os.Args[1] == "micro" {
		ms, _ := strconv.ParseFloat(os.Args[2], 64)
		fmt.Printf("version %s GOMAXPROCS=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
		for _, w := range []struct {
			name string
			fn   func(int) time.Duration
		}{{"spawn_join", spawnJoin}, {"yield_roundtrip", yieldRoundTrip},
			{"event_pingpong", eventPingPong}, {"queue_pingpong", queuePingPong}} {
			fmt.Printf("%s %.1f ns\n", w.name, batchNs(w.fn, ms))
		}
	} else {
		n, _ := strconv.Atoi(os.Args[2])
		sleepers(n)
	}
}
