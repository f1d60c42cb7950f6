// Killing the rotation after each step of its roll and finish (first node switched, first node
// undrained, second node switched, finishSecret, the registry's copy) and running it again
// converges (test/support/rotation-kill.ts has the criterion).
import "../../emulator/durable/install";
import { KILL_POINTS, killAndResumeSuite } from "../support/rotation-kill";

killAndResumeSuite(
  "rotation killed after each step of the roll and the finish, then run again",
  "jgrotk2",
  "00000000-0000-0000-0000-0000000070c2",
  [
    KILL_POINTS.web1Switched,
    KILL_POINTS.web1Undrained,
    KILL_POINTS.web2Switched,
    KILL_POINTS.finished,
    KILL_POINTS.recorded,
  ],
);
