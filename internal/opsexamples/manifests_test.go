//go:build integration

package opsexamples

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftsentinel/raftsentinel/config"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/internal/testing/testenv"
)

// yamlDocs parses every document of a YAML file into a generic value.
func yamlDocs(t *testing.T, rel string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readRepoFile(t, rel)))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", rel, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", rel)
	}
	return docs
}

// decode converts a generic YAML value into a typed one.
func decode(t *testing.T, in any, out any) {
	t.Helper()
	b, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// loadWithEnv loads a monitor configuration file the way `raftsentinel run
// --config path` would with env as its environment (RAFTSENTINEL_*
// variables of the test process are blanked, which Load ignores).
func loadWithEnv(t *testing.T, path string, env map[string]string) config.Config {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "RAFTSENTINEL_") {
			t.Setenv(k, "")
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("%s with %v: %v", path, env, err)
	}
	return cfg
}

// Kubernetes objects, as far as the checks read them.
type (
	k8sMeta struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	k8sEnv struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional bool   `yaml:"optional"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
		TCPSocket *struct {
			Port any `yaml:"port"`
		} `yaml:"tcpSocket"`
	}
	k8sContainer struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []k8sEnv `yaml:"env"`
		Ports   []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
		LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
		VolumeMounts   []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	k8sStatefulSet struct {
		Metadata k8sMeta `yaml:"metadata"`
		Spec     struct {
			ServiceName         string `yaml:"serviceName"`
			Replicas            int    `yaml:"replicas"`
			PodManagementPolicy string `yaml:"podManagementPolicy"`
			Selector            struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata k8sMeta `yaml:"metadata"`
				Spec     struct {
					InitContainers []k8sContainer `yaml:"initContainers"`
					Containers     []k8sContainer `yaml:"containers"`
					Volumes        []struct {
						Name      string `yaml:"name"`
						ConfigMap *struct {
							Name string `yaml:"name"`
						} `yaml:"configMap"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
			VolumeClaimTemplates []struct {
				Metadata k8sMeta `yaml:"metadata"`
			} `yaml:"volumeClaimTemplates"`
		} `yaml:"spec"`
	}
	k8sService struct {
		Metadata k8sMeta `yaml:"metadata"`
		Spec     struct {
			ClusterIP                string            `yaml:"clusterIP"`
			PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
			Selector                 map[string]string `yaml:"selector"`
			Ports                    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort any    `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
)

// podEnv evaluates a container's environment for one pod the way the
// kubelet does: downward API fields, secrets, and $(VAR) references to
// variables defined before.
func podEnv(t *testing.T, c k8sContainer, podName, podIP string) map[string]string {
	t.Helper()
	env := map[string]string{}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = ref.ReplaceAllStringFunc(e.Value, func(m string) string {
				v, ok := env[m[2:len(m)-1]]
				if !ok {
					t.Errorf("env %s: %s refers to a variable not defined before it", e.Name, m)
				}
				return v
			})
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = podName
			case "status.podIP":
				env[e.Name] = podIP
			default:
				t.Fatalf("env %s: unexpected fieldRef %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret-" + e.ValueFrom.SecretKeyRef.Key
		default:
			t.Fatalf("env %s: unexpected valueFrom", e.Name)
		}
	}
	return env
}

func findContainer(t *testing.T, cs []k8sContainer, name string) k8sContainer {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return k8sContainer{}
}

func portOf(c k8sContainer, name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func mountOf(c k8sContainer, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

// TestKubernetesManifests: every document of examples/kubernetes parses, the
// objects fit together (labels, Service names, ports, probes, volumes), and
// the monitor configuration each of the three pods ends up with (ConfigMap
// plus its environment) passes raftsentinel's config loader. Nothing is
// applied to a cluster.
func TestKubernetesManifests(t *testing.T) {
	dir := repoPath(t, "examples/kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	byKind := map[string][]map[string]any{}
	var resources []string
	for _, f := range files {
		rel := "examples/kubernetes/" + filepath.Base(f)
		for _, doc := range yamlDocs(t, rel) {
			kind, _ := doc["kind"].(string)
			if kind == "" || doc["apiVersion"] == nil {
				t.Errorf("%s: a document without apiVersion or kind", rel)
				continue
			}
			if kind == "Kustomization" {
				var k struct {
					Resources []string `yaml:"resources"`
				}
				decode(t, doc, &k)
				resources = k.Resources
				continue
			}
			var obj struct {
				Metadata k8sMeta `yaml:"metadata"`
			}
			decode(t, doc, &obj)
			if obj.Metadata.Name == "" {
				t.Errorf("%s: %s without a name", rel, kind)
			}
			if kind != "Namespace" && obj.Metadata.Namespace != "redis" {
				t.Errorf("%s: %s %s in namespace %q, want redis", rel, kind, obj.Metadata.Name, obj.Metadata.Namespace)
			}
			byKind[kind] = append(byKind[kind], doc)
		}
	}
	var manifests []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			manifests = append(manifests, b)
		}
	}
	sort.Strings(resources)
	if !slices.Equal(resources, manifests) {
		t.Errorf("kustomization resources %v, want every manifest %v", resources, manifests)
	}
	for kind, n := range map[string]int{"Namespace": 1, "ConfigMap": 1, "Service": 2, "StatefulSet": 1, "PodDisruptionBudget": 1} {
		if len(byKind[kind]) != n {
			t.Fatalf("%d objects of kind %s, want %d", len(byKind[kind]), kind, n)
		}
	}

	var sts k8sStatefulSet
	decode(t, byKind["StatefulSet"][0], &sts)
	spec := sts.Spec
	pod := spec.Template.Spec
	if spec.Replicas != 3 || spec.PodManagementPolicy != "Parallel" {
		t.Errorf("StatefulSet: replicas %d, podManagementPolicy %q; want 3, Parallel", spec.Replicas, spec.PodManagementPolicy)
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("StatefulSet: the pod template lacks selector label %s=%s", k, v)
		}
	}
	podLabels := spec.Template.Metadata.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	ann := spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v: want prometheus.io/scrape \"true\" and path /metrics", ann)
	}

	redis := findContainer(t, pod.Containers, "redis")
	mon := findContainer(t, pod.Containers, "raftsentinel")
	httpPort := portOf(mon, "http")
	if fmt.Sprint(httpPort) != ann["prometheus.io/port"] {
		t.Errorf("prometheus.io/port %q, but the monitor's http port is %d", ann["prometheus.io/port"], httpPort)
	}
	for name, p := range map[string]*k8sProbe{"readiness": mon.ReadinessProbe, "liveness": mon.LivenessProbe} {
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[name]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || fmt.Sprint(p.HTTPGet.Port) != "http" {
			t.Errorf("monitor %s probe: want httpGet %s on port http", name, want)
		}
	}
	if portOf(redis, "redis") != 6379 || portOf(mon, "sentinel") != 26379 {
		t.Errorf("ports: redis %d, sentinel %d; want 6379, 26379", portOf(redis, "redis"), portOf(mon, "sentinel"))
	}

	// Services: the headless one names the pods (also before they are
	// ready), the other one serves clients on 26379.
	services := map[string]k8sService{}
	for _, doc := range byKind["Service"] {
		var s k8sService
		decode(t, doc, &s)
		services[s.Metadata.Name] = s
		if !matches(s.Spec.Selector) {
			t.Errorf("Service %s: selector %v does not select the pods (%v)", s.Metadata.Name, s.Spec.Selector, podLabels)
		}
		for _, p := range s.Spec.Ports {
			if name, ok := p.TargetPort.(string); ok && portOf(redis, name) == 0 && portOf(mon, name) == 0 {
				t.Errorf("Service %s: targetPort %q is no container port", s.Metadata.Name, name)
			}
		}
	}
	headless, ok := services[spec.ServiceName]
	if !ok || headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s (serviceName): want clusterIP None and publishNotReadyAddresses", spec.ServiceName)
	}
	client, ok := services["raftsentinel"]
	if !ok || len(client.Spec.Ports) != 1 || client.Spec.Ports[0].Port != 26379 {
		t.Errorf("Service raftsentinel: want one port, 26379")
	}

	var pdb struct {
		Spec struct {
			MaxUnavailable any `yaml:"maxUnavailable"`
			Selector       struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	decode(t, byKind["PodDisruptionBudget"][0], &pdb)
	if fmt.Sprint(pdb.Spec.MaxUnavailable) != "1" || !matches(pdb.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget: maxUnavailable %v, selector %v", pdb.Spec.MaxUnavailable, pdb.Spec.Selector.MatchLabels)
	}

	// The ConfigMap's files, mounted where the containers read them.
	var cm struct {
		Metadata k8sMeta           `yaml:"metadata"`
		Data     map[string]string `yaml:"data"`
	}
	decode(t, byKind["ConfigMap"][0], &cm)
	var cmVolume string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
			cmVolume = v.Name
		}
	}
	if cmVolume == "" {
		t.Fatalf("no volume of ConfigMap %s", cm.Metadata.Name)
	}
	if len(mon.Args) != 3 || mon.Args[0] != "run" || mon.Args[1] != "--config" ||
		mon.Args[2] != mountOf(mon, cmVolume)+"/monitor.yaml" || cm.Data["monitor.yaml"] == "" {
		t.Errorf("monitor args %v: want run --config <ConfigMap mount>/monitor.yaml", mon.Args)
	}
	if len(redis.Command) != 2 || redis.Command[1] != mountOf(redis, cmVolume)+"/start-redis.sh" || cm.Data["start-redis.sh"] == "" {
		t.Errorf("redis command %v: want sh <ConfigMap mount>/start-redis.sh", redis.Command)
	}
	monPath := filepath.Join(t.TempDir(), "monitor.yaml")
	if err := os.WriteFile(monPath, []byte(cm.Data["monitor.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}

	headlessDomain := fmt.Sprintf("%s.%s.svc.cluster.local", spec.ServiceName, sts.Metadata.Namespace)
	for i := range spec.Replicas {
		podName := fmt.Sprintf("%s-%d", sts.Metadata.Name, i)
		podIP := fmt.Sprintf("10.244.%d.7", i)
		self := podName + "." + headlessDomain
		cfg := loadWithEnv(t, monPath, podEnv(t, mon, podName, podIP))
		for what, got := range map[string][2]string{
			"node-id":     {cfg.NodeID, podName},
			"announce":    {cfg.Announce, self + ":26379"},
			"raft-addr":   {cfg.RaftAddr, self + ":7000"},
			"http-addr":   {cfg.HTTPAddr, fmt.Sprintf("%s:%d", podIP, httpPort)},
			"local-redis": {cfg.LocalRedis, fmt.Sprintf("%s:%d", self, portOf(redis, "redis"))},
			"data-dir":    {cfg.DataDir, mountOf(mon, "raftsentinel-data")},
			"admin-token": {cfg.AdminToken, "secret-admin-token"},
		} {
			if got[0] != got[1] {
				t.Errorf("pod %s: %s = %q, want %q", podName, what, got[0], got[1])
			}
		}
		if len(cfg.Peers) != spec.Replicas || len(cfg.Masters) != 1 || cfg.Masters[0].Addr != "redis-0."+headlessDomain+":6379" {
			t.Errorf("pod %s: peers %v, masters %v: want %d peers and redis-0 the initial master", podName, cfg.Peers, cfg.Masters, spec.Replicas)
		}
	}
	for _, vct := range spec.VolumeClaimTemplates {
		if mountOf(redis, vct.Metadata.Name) == "" && mountOf(mon, vct.Metadata.Name) == "" {
			t.Errorf("volumeClaimTemplate %s is mounted nowhere", vct.Metadata.Name)
		}
	}
	if mountOf(redis, "redis-data") != "/data" {
		t.Errorf("redis data at %q, want /data (redis.conf: dir /data)", mountOf(redis, "redis-data"))
	}
}

// TestKubernetesStartRedis runs the ConfigMap's start-redis.sh with
// stand-ins for redis-cli (the monitors' answer) and redis-server (prints
// its arguments), then starts a real redis-server on the redis.conf it
// wrote.
func TestKubernetesStartRedis(t *testing.T) {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	decode(t, yamlDocs(t, "examples/kubernetes/configmap.yaml")[0], &cm)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(bin, 0o755))
	must(os.WriteFile(filepath.Join(bin, "redis-cli"),
		[]byte("#!/bin/sh\n[ -n \"$FAKE_MASTER\" ] || exit 1\nprintf '%s\\n' $FAKE_MASTER\n"), 0o755))
	must(os.WriteFile(filepath.Join(bin, "redis-server"), []byte("#!/bin/sh\necho \"redis-server $*\"\n"), 0o755))
	script := filepath.Join(dir, "start-redis.sh")
	must(os.WriteFile(script, []byte(cm.Data["start-redis.sh"]), 0o644))
	template := filepath.Join(dir, "redis.conf")
	must(os.WriteFile(template, []byte(cm.Data["redis.conf"]), 0o644))

	const domain = "redis-headless.redis.svc.cluster.local"
	run := func(pod, data, answer string) {
		t.Helper()
		must(os.MkdirAll(data, 0o755))
		cmd := exec.Command("sh", script)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "POD_NAME=" + pod, "FAKE_MASTER=" + answer,
			"REDIS_DATA_DIR=" + data, "REDIS_CONF_TEMPLATE=" + template}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("start-redis.sh (pod %s, monitors answer %q): %v\n%s", pod, answer, err, out)
		}
		if got, want := strings.TrimSpace(string(out)), "redis-server "+filepath.Join(data, "redis.conf"); got != want {
			t.Errorf("pod %s, monitors answer %q: ran %q, want %q", pod, answer, got, want)
		}
	}
	conf := func(data string) string {
		b, err := os.ReadFile(filepath.Join(data, "redis.conf"))
		must(err)
		return string(b)
	}
	// check runs the script and checks the role recorded in redis.conf:
	// "" (master) or the replicaof line.
	check := func(pod, data, answer, replicaof string) {
		t.Helper()
		run(pod, data, answer)
		c := conf(data)
		var lines []string
		for _, l := range strings.Split(c, "\n") {
			if strings.HasPrefix(l, "replicaof ") {
				lines = append(lines, l)
			}
		}
		want := []string{}
		if replicaof != "" {
			want = []string{"replicaof " + replicaof}
		}
		if !slices.Equal(lines, want) {
			t.Errorf("pod %s, monitors answer %q: redis.conf has %q, want %q", pod, answer, lines, want)
		}
		if strings.Count(c, "replica-announce-ip "+pod+"."+domain+"\n") != 1 {
			t.Errorf("pod %s: redis.conf does not announce the pod's name once:\n%s", pod, c)
		}
	}
	// First start of the group: nobody answers; redis-0 is the master.
	check("redis-0", filepath.Join(dir, "a"), "", "")
	check("redis-1", filepath.Join(dir, "b"), "", "redis-0."+domain+" 6379")
	// A first start later on (a new volume) follows the monitors.
	check("redis-0", filepath.Join(dir, "c"), "redis-2."+domain+" 6379", "redis-2."+domain+" 6379")
	check("redis-2", filepath.Join(dir, "d"), "redis-2."+domain+" 6379", "")
	// Restarts of one pod: the monitors' answer sets the role; without an
	// answer the recorded role stays.
	data := filepath.Join(dir, "restarts")
	check("redis-1", data, "", "redis-0."+domain+" 6379")
	check("redis-1", data, "redis-1."+domain+" 6379", "")
	check("redis-1", data, "", "")
	check("redis-1", data, "redis-2."+domain+" 6379", "redis-2."+domain+" 6379")
	check("redis-1", data, "NOQUORUM Not enough good monitors", "redis-2."+domain+" 6379")

	// The redis.conf it wrote runs a real redis-server (its dir, read
	// while the file is parsed, moved to the test's; port and bind
	// overridden on the command line).
	redisServer := tool(t, "redis-server", "apt-get install -y redis-server")
	c := conf(data)
	if !strings.Contains(c, "\ndir /data\n") {
		t.Fatalf("redis.conf: no \"dir /data\":\n%s", c)
	}
	testConf := filepath.Join(data, "test-redis.conf")
	must(os.WriteFile(testConf, []byte(strings.Replace(c, "\ndir /data\n", "\ndir "+data+"\n", 1)), 0o644))
	port := freePort(t)
	p := startProcess(t, data, redisServer, testConf, "--port", fmt.Sprint(port), "--bind", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testenv.Eventually(t, 10*time.Second, "redis-server on the pod's redis.conf", func() error {
		if p.exited() {
			t.Fatalf("redis-server exited:\n%s", p.output())
		}
		v, err := redisproc.Do(context.Background(), addr, "CONFIG", "GET", "replica-announce-ip")
		if err != nil {
			return err
		}
		if got := fmt.Sprint(v); !strings.Contains(got, "redis-1."+domain) {
			return fmt.Errorf("replica-announce-ip: %s", got)
		}
		return nil
	})
	p.stop()
}

// TestComposeFile: docker-compose.yml parses (anchors and merge keys
// included), its services fit together, and the configuration each monitor
// ends up with (monitor.yaml plus its environment) passes raftsentinel's
// config loader. Docker is not run.
func TestComposeFile(t *testing.T) {
	type service struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   []string          `yaml:"depends_on"`
	}
	var f struct {
		Services map[string]service `yaml:"services"`
		Volumes  map[string]any     `yaml:"volumes"`
	}
	docs := yamlDocs(t, "examples/compose/docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("%d YAML documents, want 1", len(docs))
	}
	decode(t, docs[0], &f)
	composeDir := repoPath(t, "examples/compose")

	for _, name := range []string{"redis1", "redis2"} {
		s, ok := f.Services[name]
		if !ok || !strings.HasPrefix(s.Image, "redis:") || len(s.Command) == 0 || s.Command[0] != "redis-server" {
			t.Fatalf("service %s: want a redis image running redis-server, got %+v", name, s)
		}
		if !strings.Contains(strings.Join(s.Command, " "), "--replica-announce-ip "+name) {
			t.Errorf("service %s: does not announce its service name: %v", name, s.Command)
		}
	}
	if cmd := strings.Join(f.Services["redis2"].Command, " "); !strings.Contains(cmd, "--replicaof redis1 6379") {
		t.Errorf("redis2 is not a replica of redis1: %s", cmd)
	}

	published := map[string]string{}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("monitor%d", i)
		s, ok := f.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if s.Build == nil || filepath.Clean(filepath.Join(composeDir, s.Build.Context)) != repoPath(t, "") {
			t.Fatalf("service %s: build context must be the repository root, got %+v", name, s.Build)
		}
		if _, err := os.Stat(filepath.Join(composeDir, s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("service %s: dockerfile: %v", name, err)
		}
		if !slices.Contains(s.DependsOn, "redis1") {
			t.Errorf("service %s: depends_on %v", name, s.DependsOn)
		}
		for _, p := range s.Ports {
			host := p[:strings.LastIndex(p, ":")]
			if other, dup := published[host]; dup {
				t.Errorf("service %s publishes %s, as %s does", name, host, other)
			}
			published[host] = name
		}
		// The config file mounted where the command reads it.
		if len(s.Command) != 3 || s.Command[1] != "--config" {
			t.Fatalf("service %s: command %v, want run --config <file>", name, s.Command)
		}
		var file, dataDir string
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(strings.TrimSuffix(v, ":ro"), ":")
			switch {
			case dst == s.Command[2]:
				file = filepath.Join(composeDir, src)
			case strings.HasPrefix(src, name):
				dataDir = dst
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("service %s: volume %s is not declared", name, src)
				}
			}
		}
		if file == "" {
			t.Fatalf("service %s: nothing is mounted at %s", name, s.Command[2])
		}
		cfg := loadWithEnv(t, file, s.Environment)
		if cfg.NodeID != fmt.Sprintf("m%d", i) || cfg.Announce != name+":26379" || cfg.RaftAddr != name+":7000" ||
			cfg.HTTPAddr != name+":7001" || cfg.DataDir != dataDir {
			t.Errorf("service %s: node-id %s announce %s raft-addr %s http-addr %s data-dir %s (volume at %s)",
				name, cfg.NodeID, cfg.Announce, cfg.RaftAddr, cfg.HTTPAddr, cfg.DataDir, dataDir)
		}
		if len(cfg.Masters) != 1 || cfg.Masters[0].Addr != "redis1:6379" {
			t.Errorf("service %s: masters %v, want redis1:6379", name, cfg.Masters)
		}
	}
}

// goTool returns the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	return tool(t, "go", "install Go (go.mod's version)")
}

// buildStatic builds ./cmd/raftsentinel as the Dockerfile does and checks
// that the result is a static executable.
func buildStatic(t *testing.T) string {
	t.Helper()
	df := string(readRepoFile(t, "examples/compose/Dockerfile"))
	run := regexp.MustCompile(`(?s)RUN (CGO_ENABLED=0 go build .*?)(?:\n[^ \n]|\z)`).FindStringSubmatch(df)
	if run == nil {
		t.Fatal("Dockerfile: no RUN CGO_ENABLED=0 go build ...")
	}
	for _, want := range []string{"-trimpath", "./cmd/raftsentinel", "-X main.version="} {
		if !strings.Contains(run[1], want) {
			t.Errorf("Dockerfile: the build lacks %s: %s", want, run[1])
		}
	}
	gomod := string(readRepoFile(t, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
	if goVersion == nil || !strings.Contains(df, "ARG GO_VERSION="+goVersion[1]+"\n") {
		t.Errorf("Dockerfile: ARG GO_VERSION must be go.mod's %v", goVersion)
	}

	out := filepath.Join(t.TempDir(), "raftsentinel")
	cmd := exec.Command(goTool(t), "build", "-trimpath", "-ldflags", "-s -w -X main.version=opsexamples", "-o", out, "./cmd/raftsentinel")
	cmd.Dir = repoPath(t, "")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is not static: it has a %v program header", p.Type)
		}
	}
	if v, err := exec.Command(out, "version").CombinedOutput(); err != nil || !strings.Contains(string(v), "raftsentinel opsexamples") {
		t.Errorf("%s version: %v %s", out, err, v)
	}
	return out
}

// TestDockerfileStaticBuild: the Dockerfile's Go version is go.mod's and
// its build command yields a static binary. Docker itself is not run.
func TestDockerfileStaticBuild(t *testing.T) {
	buildStatic(t)
	if _, err := os.Stat(repoPath(t, "examples/compose/Dockerfile.dockerignore")); err != nil {
		t.Error(err)
	}
}

// unitFile parses a systemd unit: section -> key -> values (a key may
// repeat).
func unitFile(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d: %q", n+1, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestSystemdUnit: the unit has the promised hardening and restart policy,
// systemd-analyze accepts it (verify, and security with a low exposure),
// and the sample /etc/raftsentinel/monitor.yaml it runs loads, with its
// data-dir in the unit's StateDirectory.
func TestSystemdUnit(t *testing.T) {
	text := string(readRepoFile(t, "examples/systemd/raftsentinel.service"))
	u := unitFile(t, text)
	svc := u["Service"]
	one := func(k string) string {
		if len(svc[k]) != 1 {
			t.Errorf("[Service] %s: %v, want one value", k, svc[k])
			return ""
		}
		return svc[k][0]
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": "on-failure",
		"RestartPreventExitStatus": "99", "StateDirectory": "raftsentinel", "ReadWritePaths": "/var/lib/raftsentinel",
		"KillSignal": "SIGTERM", "ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if got := one(k); got != want {
			t.Errorf("[Service] %s=%s, want %s", k, got, want)
		}
	}
	if one("User") == "" && one("DynamicUser") != "yes" {
		t.Error("[Service] needs User= or DynamicUser=yes")
	}
	exec0 := strings.Fields(one("ExecStart"))
	if len(exec0) != 4 || exec0[1] != "run" || exec0[2] != "--config" {
		t.Fatalf("ExecStart %v: want <binary> run --config <file>", exec0)
	}
	if exec0[3] != "/etc/raftsentinel/monitor.yaml" {
		t.Errorf("ExecStart reads %s; the sample is /etc/raftsentinel/monitor.yaml", exec0[3])
	}
	cfg := loadWithEnv(t, repoPath(t, "examples/systemd/monitor.yaml"), nil)
	if cfg.DataDir != "/var/lib/"+one("StateDirectory") {
		t.Errorf("monitor.yaml data-dir %s is not the unit's StateDirectory /var/lib/%s", cfg.DataDir, one("StateDirectory"))
	}

	// systemd-analyze, on a copy whose ExecStart is a real binary.
	analyze := tool(t, "systemd-analyze", "install Debian's systemd: apt-get install -y systemd")
	dir := t.TempDir()
	binary := buildStatic(t)
	unit := filepath.Join(dir, "raftsentinel.service")
	if err := os.WriteFile(unit, []byte(strings.Replace(text, "ExecStart="+exec0[0], "ExecStart="+binary, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure 0 (locked down) to 100; 20 is "OK" territory.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=20: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for \S+: (\S+ \S+)`).FindSubmatch(out); m != nil {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}
