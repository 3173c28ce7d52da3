package samtemplate

import "testing"

func TestFunctionMemorySizeAndVariables(t *testing.T) {
	t.Parallel()
	tpl, err := Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if mb, err := tpl.FunctionMemorySize("PeeringFunction"); err != nil || mb != 128 {
		t.Errorf("PeeringFunction MemorySize = %d, %v; want its own 128", mb, err)
	}
	if mb, err := tpl.FunctionMemorySize("ApiFunction"); err != nil || mb != 256 {
		t.Errorf("ApiFunction MemorySize = %d, %v; want the Globals' 256", mb, err)
	}
	if _, err := tpl.FunctionMemorySize("NoSuchFunction"); err == nil {
		t.Error("MemorySize of a missing resource: no error")
	}
	if v, ok := tpl.FunctionVariable("PeeringFunction", "GOMEMLIMIT"); !ok || v != "100MiB" {
		t.Errorf("PeeringFunction GOMEMLIMIT = %q, %v; want 100MiB", v, ok)
	}
	if v, ok := tpl.FunctionVariable("PeeringFunction", "TICKS_QUEUE_URL"); ok {
		t.Errorf("TICKS_QUEUE_URL (a !Ref) read as the literal %q", v)
	}
}
