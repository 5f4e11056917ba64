// pause: the sandbox process of a pod for the kubeadm test nodes (nothing can be pulled there, so
// the test builds its own pause image FROM scratch with this static program). Like Kubernetes'
// pause it holds the pod's namespaces, reaps the zombies it inherits as PID 1, and exits on
// SIGINT or SIGTERM; with -v it prints its version and exits (kubeadm upgrade's health-check Job
// runs the pause image so).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (gigafactory test build)\n")
		os.Exit(0)
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
