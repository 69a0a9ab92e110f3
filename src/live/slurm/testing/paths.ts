/** Where the test machinery of the Slurm layer lives (no test framework imported: slurmctld runs power-main.ts). */
import { fileURLToPath } from "node:url"

/** ci/slurm/slurm-vm.sh of this checkout. */
export const VM_SCRIPT = fileURLToPath(new URL("../../../../ci/slurm/slurm-vm.sh", import.meta.url))
/** The project root (where `node --import tsx` finds tsx). */
export const PROJECT_ROOT = fileURLToPath(new URL("../../../../", import.meta.url))
export const SLURM_DIR = process.env.SLURM_LOCAL_DIR ?? "/var/lib/slurm-local"
export const SLURM_CONF = `${SLURM_DIR}/etc/slurm.conf`
