// Side-effect module: import it BEFORE anything that calls app.* / df.app.* (first line of a test file
// or `node --require dist/emulator/durable/install.js`). @azure/functions decides once per process
// whether a worker is present; registrations made before this runs are lost for good.
import { installFunctionsCoreStub } from "./functions-core-stub";

installFunctionsCoreStub();
