// Command loopback serves what the test control plane's Flux controllers pull from, on 127.0.0.1
// only, for scripts/testenv:
//
//   - a Git server over smart HTTP (git http-backend as a CGI program): a push to
//     http://ADDR/NAME.git creates the bare repository NAME.git under --git-root on first use
//     (default branch main), and source-controller clones from the same URL;
//   - a Helm chart repository: the files of --charts (index.yaml and the .tgz packages);
//   - an OCI registry (go-containerregistry's in-memory registry) for `helm push` and Flux
//     OCIRepository / OCI HelmRepository sources.
//
// Each is enabled by its --*-addr flag. It exits on SIGTERM/SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// A repository path segment: NAME.git, NAME made of letters, digits, '.', '_' and '-'.
var repoName = regexp.MustCompile(`^/([A-Za-z0-9][A-Za-z0-9._-]*\.git)(/.*)?$`)

type gitServer struct {
	root    string
	git     string
	backend string
	mu      sync.Mutex
}

// ensure creates the bare repository dir (once) so that a first push has somewhere to go.
func (g *gitServer) ensure(name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	dir := filepath.Join(g.root, name)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=main", dir},
		{"-C", dir, "config", "http.receivepack", "true"},
		{"-C", dir, "config", "receive.denyNonFastForwards", "false"},
	} {
		cmd := exec.Command(g.git, args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	log.Printf("git: created %s", dir)
	return nil
}

func (g *gitServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := repoName.FindStringSubmatch(r.URL.Path)
	if m == nil || strings.Contains(r.URL.Path, "..") {
		http.Error(w, "not a repository path: want /NAME.git/...", http.StatusNotFound)
		return
	}
	name := m[1]
	pushing := r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
	if _, err := os.Stat(filepath.Join(g.root, name, "HEAD")); err != nil {
		if !pushing {
			http.Error(w, "repository "+name+" does not exist (push to create it)", http.StatusNotFound)
			return
		}
		if err := g.ensure(name); err != nil {
			log.Printf("git: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	h := &cgi.Handler{
		Path: g.backend,
		Root: "/",
		Dir:  g.root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + g.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
		},
		InheritEnv: []string{"PATH", "HOME", "LANG"},
		Stderr:     os.Stderr,
	}
	h.ServeHTTP(w, r)
}

func logged(tag string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w, status: 200}
		start := time.Now()
		h.ServeHTTP(rw, r)
		log.Printf("%s: %s %s -> %d (%s)", tag, r.Method, r.URL.RequestURI(), rw.status, time.Since(start).Round(time.Millisecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming responses (git pack data) flowing through the wrapper.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func main() {
	gitAddr := flag.String("git-addr", "", "listen address of the Git smart-HTTP server (empty: off)")
	gitRoot := flag.String("git-root", "", "directory holding the bare repositories")
	chartsAddr := flag.String("charts-addr", "", "listen address of the Helm chart repository (empty: off)")
	charts := flag.String("charts", "", "directory served as the Helm chart repository (index.yaml + packages)")
	ociAddr := flag.String("oci-addr", "", "listen address of the in-memory OCI registry (empty: off)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	type server struct {
		tag, addr string
		h         http.Handler
	}
	var servers []server
	if *gitAddr != "" {
		if *gitRoot == "" {
			log.Fatal("--git-addr needs --git-root")
		}
		git, err := exec.LookPath("git")
		if err != nil {
			log.Fatalf("git not found on PATH: %v", err)
		}
		out, err := exec.Command(git, "--exec-path").Output()
		if err != nil {
			log.Fatalf("git --exec-path: %v", err)
		}
		backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
		if _, err := os.Stat(backend); err != nil {
			log.Fatalf("git http-backend not found: %v", err)
		}
		root, err := filepath.Abs(*gitRoot)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			log.Fatal(err)
		}
		servers = append(servers, server{"git", *gitAddr, &gitServer{root: root, git: git, backend: backend}})
	}
	if *chartsAddr != "" {
		if st, err := os.Stat(filepath.Join(*charts, "index.yaml")); err != nil || st.IsDir() {
			log.Fatalf("--charts %q: no index.yaml", *charts)
		}
		servers = append(servers, server{"charts", *chartsAddr, http.FileServer(http.Dir(*charts))})
	}
	if *ociAddr != "" {
		servers = append(servers, server{"oci", *ociAddr, registry.New(registry.Logger(log.New(os.Stderr, "oci: ", log.LstdFlags)))})
	}
	if len(servers) == 0 {
		log.Fatal("nothing to serve: give --git-addr, --charts-addr and/or --oci-addr")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errs := make(chan error, len(servers))
	var running []*http.Server
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			log.Fatalf("%s: %v", s.tag, err)
		}
		srv := &http.Server{Handler: logged(s.tag, s.h), ReadHeaderTimeout: 10 * time.Second}
		running = append(running, srv)
		log.Printf("%s: serving on http://%s", s.tag, ln.Addr())
		go func() { errs <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Printf("serve: %v", err)
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range running {
		_ = srv.Shutdown(shutdown)
	}
}
