package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

const stream = `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestOK"}
{"Action":"output","Package":"a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"a","Test":"TestOK","Elapsed":0.1}
{"Action":"run","Package":"a","Test":"TestBad"}
{"Action":"output","Package":"a","Test":"TestBad","Output":"    a_test.go:9: got 1, want 2\n"}
{"Action":"fail","Package":"a","Test":"TestBad","Elapsed":0.1}
{"Action":"run","Package":"a","Test":"TestMoto"}
{"Action":"output","Package":"a","Test":"TestMoto","Output":"    moto.go:1: moto_server is missing\n"}
{"Action":"output","Package":"a","Test":"TestMoto","Output":"--- SKIP: TestMoto (0.00s)\n"}
{"Action":"skip","Package":"a","Test":"TestMoto","Elapsed":0}
{"Action":"fail","Package":"a","Elapsed":0.3}
{"Action":"skip","Package":"b","Elapsed":0}
`

func TestReportCountsAndShowsFailuresAndSkips(t *testing.T) {
	var progress bytes.Buffer
	r, err := Read(strings.NewReader(stream), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "fail\ta\t0.3s\t1 passed, 1 failed, 1 skipped\n") {
		t.Errorf("progress lacks the package line:\n%s", progress.String())
	}
	if r.Passed != 1 || r.Failed != 1 || r.Skipped != 1 {
		t.Fatalf("counts %d/%d/%d, want 1 passed, 1 failed, 1 skipped", r.Passed, r.Failed, r.Skipped)
	}
	var out bytes.Buffer
	r.Write(&out)
	for _, want := range []string{"--- FAIL a TestBad\n    a_test.go:9: got 1, want 2", "--- SKIP a TestMoto: moto.go:1: moto_server is missing", "\n1 passed, 1 failed, 1 skipped\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(progress.String(), "\tb\t") {
		t.Errorf("a package without tests is listed:\n%s", progress.String())
	}
}

func TestVerdict(t *testing.T) {
	cases := []struct {
		name   string
		stream string
		ci     bool
		want   string // a part of the verdict; "" means the run passes
	}{
		{"a failure fails", stream, false, "1 tests failed"},
		{"clean passes", `{"Action":"pass","Package":"a","Test":"T"}` + "\n" + `{"Action":"pass","Package":"a"}`, false, ""},
		{"a skip passes locally", `{"Action":"pass","Package":"a","Test":"T"}` + "\n" + `{"Action":"skip","Package":"a","Test":"S"}` + "\n" + `{"Action":"pass","Package":"a"}`, false, ""},
		{"a skip fails under CI", `{"Action":"pass","Package":"a","Test":"T"}` + "\n" + `{"Action":"skip","Package":"a","Test":"S"}` + "\n" + `{"Action":"pass","Package":"a"}`, true, "skipped under CI=true"},
		{"no test fails", `{"Action":"skip","Package":"a"}`, false, "no test ran"},
		{"a package that never ended fails", `{"Action":"pass","Package":"a","Test":"T"}`, false, "failing packages: a"},
		{"a build failure fails", `{"Action":"pass","Package":"a","Test":"T"}` + "\n" + `{"Action":"pass","Package":"a"}` + "\n" + `{"Action":"fail","Package":"b"}`, false, "failing packages: b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Read(strings.NewReader(tc.stream), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Verdict(tc.ci)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("verdict %q, want %q", got, tc.want)
			}
		})
	}
}
