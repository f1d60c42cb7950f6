// Entry point of the Function App (package.json "main"). Importing a module registers its triggers,
// orchestrators and activities with the Node.js v4 programming model; capability modules are added
// here as they land (provisioning, healing, certificates, credentials).
export {};
