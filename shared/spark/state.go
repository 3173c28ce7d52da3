// Package spark is a client for a Spark standalone cluster: the REST submission API ("v1":
// create, status, kill, readyz) and the master web UI's /json document. It tries the masters
// of an HA cluster in order, skips standby masters, honours ctx on every call and turns
// Spark's replies into typed errors (reference/protocols.md §1-§3). It also builds the
// streaming job's submission body (BuildSubmission).
package spark

// DriverState is a driver's state as the master reports it (Spark's DriverState).
type DriverState string

// Every DriverState Spark defines.
const (
	Submitted   DriverState = "SUBMITTED"
	Running     DriverState = "RUNNING"
	Finished    DriverState = "FINISHED"
	Relaunching DriverState = "RELAUNCHING"
	Unknown     DriverState = "UNKNOWN"
	Killed      DriverState = "KILLED"
	Failed      DriverState = "FAILED"
	Error       DriverState = "ERROR"
)

// DriverStates lists every DriverState, for tables that must cover them all.
var DriverStates = []DriverState{Submitted, Running, Finished, Relaunching, Unknown, Killed, Failed, Error}

// RecoveryState is a master's state (the "status" of /json).
type RecoveryState string

// Every RecoveryState Spark defines.
const (
	Alive              RecoveryState = "ALIVE"
	Standby            RecoveryState = "STANDBY"
	Recovering         RecoveryState = "RECOVERING"
	CompletingRecovery RecoveryState = "COMPLETING_RECOVERY"
)

// RecoveryStates lists every RecoveryState.
var RecoveryStates = []RecoveryState{Alive, Standby, Recovering, CompletingRecovery}

// WorkerState is a worker's state in /json.
type WorkerState string

// Every WorkerState Spark defines.
const (
	WorkerAlive          WorkerState = "ALIVE"
	WorkerDead           WorkerState = "DEAD"
	WorkerDecommissioned WorkerState = "DECOMMISSIONED"
	WorkerUnknown        WorkerState = "UNKNOWN"
)

// MasterState is the master web UI's /json document (JsonProtocol.writeMasterState). Field
// order follows Spark's; totals count alive workers only.
type MasterState struct {
	URL              string        `json:"url"`
	Workers          []Worker      `json:"workers"`
	AliveWorkers     int           `json:"aliveworkers"`
	Cores            int           `json:"cores"`
	CoresUsed        int           `json:"coresused"`
	Memory           int           `json:"memory"`
	MemoryUsed       int           `json:"memoryused"`
	Resources        []any         `json:"resources"`
	ResourcesUsed    []any         `json:"resourcesused"`
	ActiveApps       []App         `json:"activeapps"`
	CompletedApps    []App         `json:"completedapps"`
	ActiveDrivers    []Driver      `json:"activedrivers"`
	CompletedDrivers []Driver      `json:"completeddrivers"`
	Status           RecoveryState `json:"status"`
}

// Worker is one worker of /json (lastheartbeat is epoch ms).
type Worker struct {
	ID            string         `json:"id"`
	Host          string         `json:"host"`
	Port          int            `json:"port"`
	WebUIAddress  string         `json:"webuiaddress"`
	Cores         int            `json:"cores"`
	CoresUsed     int            `json:"coresused"`
	CoresFree     int            `json:"coresfree"`
	Memory        int            `json:"memory"`
	MemoryUsed    int            `json:"memoryused"`
	MemoryFree    int            `json:"memoryfree"`
	Resources     map[string]any `json:"resources"`
	ResourcesUsed map[string]any `json:"resourcesused"`
	ResourcesFree map[string]any `json:"resourcesfree"`
	State         WorkerState    `json:"state"`
	LastHeartbeat int64          `json:"lastheartbeat"`
}

// App is one application of /json (starttime is epoch ms, a number).
type App struct {
	ID                   string `json:"id"`
	StartTime            int64  `json:"starttime"`
	Name                 string `json:"name"`
	Cores                int    `json:"cores"`
	User                 string `json:"user"`
	MemoryPerExecutor    int    `json:"memoryperexecutor"`
	MemoryPerSlave       int    `json:"memoryperslave"`
	ResourcesPerExecutor []any  `json:"resourcesperexecutor"`
	ResourcesPerSlave    []any  `json:"resourcesperslave"`
	SubmitDate           string `json:"submitdate"`
	State                string `json:"state"`
	Duration             int64  `json:"duration"`
}

// Driver is one driver of /json. StartTime is a string (Spark renders the epoch ms with
// toString); Worker is "None" while unassigned; MainClass is the submission's mainClass.
type Driver struct {
	ID         string         `json:"id"`
	StartTime  string         `json:"starttime"`
	State      DriverState    `json:"state"`
	Cores      int            `json:"cores"`
	Memory     int            `json:"memory"`
	Resources  map[string]any `json:"resources"`
	SubmitDate string         `json:"submitdate"`
	Worker     string         `json:"worker"`
	MainClass  string         `json:"mainclass"`
}

// DriverStatus is the REST status of one submission.
type DriverStatus struct {
	SubmissionID   string
	Found          bool // false for unknown or forgotten IDs
	State          DriverState
	WorkerID       string
	WorkerHostPort string
	Message        string // "Exception from the cluster: ..." when the driver recorded one
}
