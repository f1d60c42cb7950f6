// Killing the rotation after each of its early steps (claim, createSecret, setSecret, testSecret,
// the first node drained) and running it again converges (test/support/rotation-kill.ts has the
// criterion).
import "../../emulator/durable/install";
import { KILL_POINTS, killAndResumeSuite } from "../support/rotation-kill";

killAndResumeSuite(
  "rotation killed after each early step, then run again",
  "jgrotk1",
  "00000000-0000-0000-0000-0000000070c1",
  [KILL_POINTS.claimed, KILL_POINTS.created, KILL_POINTS.set, KILL_POINTS.tested, KILL_POINTS.web1Drained],
);
