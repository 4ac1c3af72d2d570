package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	s := newSession(t)
	r := s.run("health")
	r.check(t, []string{"health"}, exitOK)
	for _, want := range []string{"status   healthy\n", "backend  memory\n", "key      CACHE#cachectl:health:", "\nset ", "\nget ", "\ndelete ", "\ntotal "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}

	r = s.run("health", "--json", "--prefix", "svc#")
	r.check(t, nil, exitOK)
	var rep healthReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rep.Status != "healthy" || !strings.HasPrefix(rep.Key, "svc#cachectl:health:") || len(rep.Steps) != 3 {
		t.Errorf("report = %+v", rep)
	}
	var sum int64
	for i, step := range rep.Steps {
		if want := []string{"set", "get", "delete"}[i]; step.Step != want || step.Error != "" || step.LatencyNS < 0 {
			t.Errorf("step %d = %+v, want %s without error", i, step, want)
		}
		sum += step.LatencyNS
	}
	if rep.TotalNS != sum {
		t.Errorf("total %d, want the sum of the steps, %d", rep.TotalNS, sum)
	}
	// The probes leave nothing behind.
	if n := s.store.Len(); n != 0 {
		t.Errorf("%d entries left after the probes", n)
	}
}

func TestHealthUnhealthy(t *testing.T) {
	s := brokenSession(t)
	r := s.run("health", "--json")
	r.check(t, nil, exitMiss)
	var rep healthReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rep.Status != "unhealthy" {
		t.Errorf("status %q", rep.Status)
	}
	// The get is skipped after a failed set; the delete still tries to clean up.
	if len(rep.Steps) != 2 || rep.Steps[0].Step != "set" || rep.Steps[0].Error == "" || rep.Steps[1].Step != "delete" {
		t.Errorf("steps = %+v", rep.Steps)
	}

	r = s.run("health")
	r.check(t, nil, exitMiss)
	if !strings.Contains(r.stdout, "status   unhealthy") || !strings.Contains(r.stdout, "failed: cachekit: closed") {
		t.Errorf("health:\n%s", r.stdout)
	}
}
