package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// A batch commits the work of every job that succeeded and none of a job
// that failed or panicked, wherever in the batch it was, and each job
// learns its own outcome. A job that ran before a failure ran again, but
// not before a refusal (writeOrRefuse's savepoint undoes that alone).
func TestBatchUndoesOnlyTheJobsThatFailed(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE scratch (key TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	note := func(key string) func(tx *wtx) error {
		return func(tx *wtx) error {
			_, err := tx.Exec(`INSERT INTO scratch (key) VALUES (?)`, key)
			return err
		}
	}
	runs := map[string]int{}
	counted := func(key string, then error) func(tx *wtx) error {
		return func(tx *wtx) error {
			runs[key]++
			if err := note(key)(tx); err != nil {
				return err
			}
			if key == "panics" {
				panic("a bug")
			}
			return then
		}
	}
	for _, tt := range []struct {
		name    string
		jobs    []string // fails and refuses return boom (refuses in a savepoint), panics panics
		stored  []string
		failing []string
		runs    int // how often the first job ran
	}{
		{"all succeed", []string{"a", "b", "c"}, []string{"a", "b", "c"}, nil, 1},
		{"one job, failing", []string{"fails"}, nil, []string{"fails"}, 1},
		{"failure in the middle", []string{"a", "fails", "c"}, []string{"a", "c"}, []string{"fails"}, 2},
		{"failure first and a panic last", []string{"fails", "b", "panics"}, []string{"b"}, []string{"fails", "panics"}, 2},
		{"a refusal in the middle", []string{"a", "refuses", "c"}, []string{"a", "c"}, []string{"refuses"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.w.ExecContext(ctx, `DELETE FROM scratch`); err != nil {
				t.Fatal(err)
			}
			clear(runs)
			var batch []writeJob
			for _, key := range tt.jobs {
				var then error
				if key == "fails" || key == "refuses" {
					then = boom
				}
				batch = append(batch, writeJob{fn: counted(key, then), weight: 1, savepoint: key == "refuses", done: make(chan error, 1)})
			}
			db.commitBatch(batch)
			var failing []string
			for i, j := range batch {
				if err := <-j.done; err != nil {
					failing = append(failing, tt.jobs[i])
				}
			}
			if !slices.Equal(failing, tt.failing) {
				t.Errorf("jobs that reported an error: %v, want %v", failing, tt.failing)
			}
			var stored []string
			rows, err := db.w.QueryContext(ctx, `SELECT key FROM scratch ORDER BY rowid`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var k string
				rows.Scan(&k)
				stored = append(stored, k)
			}
			rows.Close()
			if !slices.Equal(stored, tt.stored) {
				t.Errorf("committed %v, want %v", stored, tt.stored)
			}
			if runs[tt.jobs[0]] != tt.runs {
				t.Errorf("the first job ran %d times, want %d", runs[tt.jobs[0]], tt.runs)
			}
		})
	}
}
