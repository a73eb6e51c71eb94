package dremioorch

import (
	"math"
	"sort"
	"time"
)

// RunStatus is the status of a whole run, as stored in the history tables.
type RunStatus string

// Run statuses.
const (
	RunRunning RunStatus = "RUNNING"
	RunSuccess RunStatus = "SUCCESS"
	RunFailed  RunStatus = "FAILED"
)

// TaskStatus is the status of one task of a run, as stored in the history tables.
type TaskStatus string

// Task statuses.
const (
	TaskPending TaskStatus = "PENDING"
	TaskRunning TaskStatus = "RUNNING"
	TaskSuccess TaskStatus = "SUCCESS"
	TaskFailed  TaskStatus = "FAILED"
	TaskSkipped TaskStatus = "SKIPPED"
)

// Final reports whether the status is one a task ends with.
func (s TaskStatus) Final() bool {
	return s == TaskSuccess || s == TaskFailed || s == TaskSkipped
}

// TriggerRule decides whether a task with upstream tasks runs, once all of
// them are done. Root tasks always run.
type TriggerRule string

// Trigger rules.
const (
	// AllSuccess runs the task if every upstream task is SUCCESS, else skips it (the default).
	AllSuccess TriggerRule = "all_success"
	// OneFailed runs the task if at least one upstream task FAILED, else skips it.
	OneFailed TriggerRule = "one_failed"
	// AllDone runs the task whatever the upstream statuses.
	AllDone TriggerRule = "all_done"
)

// PipelineRun is one run's record, as backends keep it.
type PipelineRun struct {
	PipelineName string
	RunID        string
	StartTime    time.Time
	// EndTime is the zero time while the run is RUNNING.
	EndTime time.Time
	Status  RunStatus
	// Tasks maps each task name to its status.
	Tasks map[string]TaskStatus
}

// UnreadableRun is a stored run row that cannot be read as a PipelineRun
// (written by another tool or by hand): its run ID ("" when the stored one
// is NULL) and why, naming the column.
type UnreadableRun struct {
	RunID  string
	Reason string
}

// RunListing is what Backend.ListRunsReport read: up to limit stored rows,
// newest first, split into the runs and the rows that cannot be read, both
// in that order.
type RunListing struct {
	Runs       []PipelineRun
	Unreadable []UnreadableRun
}

// Finished reports whether the record has an end time.
func (r *PipelineRun) Finished() bool { return !r.EndTime.IsZero() }

// Duration is EndTime - StartTime, or 0 while the run is RUNNING.
func (r *PipelineRun) Duration() time.Duration {
	if !r.Finished() {
		return 0
	}
	return r.EndTime.Sub(r.StartTime)
}

// TaskNames returns the task names in sorted order.
func (r *PipelineRun) TaskNames() []string {
	names := make([]string, 0, len(r.Tasks))
	for n := range r.Tasks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// fromEpoch converts seconds since the Unix epoch (the stored double) to a time.
func fromEpoch(s float64) time.Time {
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
}

// toEpoch converts a time to seconds since the Unix epoch.
func toEpoch(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
