package config

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// ItemMemoryBudget is the memory one allocation of a running queue item may take: max_item_memory when set,
// otherwise half of the memory this process may use (the machine's, or its container's limit), so that one item
// can never ask for more than the machine has.
func (c *Config) ItemMemoryBudget() int64 {
	if c.MaxItemMemory > 0 {
		return c.MaxItemMemory
	}
	return max(MachineMemory()/2, 256<<20)
}

// fallbackMemory is assumed when the machine's memory cannot be read.
const fallbackMemory = 8 << 30

// MachineMemory is the memory this process may use: the smallest of the machine's total memory and the
// cgroup limits it runs under (v2 memory.max, v1 memory.limit_in_bytes).
func MachineMemory() int64 {
	best := int64(0)
	consider := func(v int64) {
		if v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				fields := strings.Fields(rest)
				if len(fields) > 0 {
					if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
						consider(kb << 10)
					}
				}
			}
		}
		f.Close()
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(path); err == nil {
			// "max" (v2) or a huge number (v1) mean no limit.
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v < 1<<60 {
				consider(v)
			}
		}
	}
	if best == 0 {
		return fallbackMemory
	}
	return best
}
