// The stack spec: the one JSON document a user sends to describe a Guacamole jump server.
// The schema is the single source of truth: TypeScript types are derived from it (json-schema-to-ts)
// and ajv applies its defaults, so what the docs say, what the validator accepts and what the code
// sees can't drift apart. Rules JSON Schema can't express (CIDR containment, cross-field checks) live
// in validate.ts.

/** Stack names feed every Azure resource name; this is the intersection of what they all accept
 * (Key Vault's 24 characters minus our prefix and suffix is the tightest), lowercase because DNS
 * labels and MySQL server names are. */
export const STACK_NAME_PATTERN = "^(?!.*--)[a-z][a-z0-9-]{1,13}[a-z0-9]$";

const cidr = { type: "string", format: "ipv4-cidr" } as const;

/** An ARM resource id: a resource group, or a resource (and its children) in one. */
export const ARM_RESOURCE_ID_PATTERN =
  "^/subscriptions/[0-9A-Fa-f-]{36}/resource[Gg]roups/[-\\w.()]*[-\\w()](/providers/[A-Za-z0-9.]+(/[^/\\s]+/[^/\\s]+)+)?$";

export const STACK_SPEC_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://jumpgate.dev/schemas/stack-spec.json",
  title: "Jumpgate stack spec",
  description: "Desired state of one Apache Guacamole jump server stack on Azure.",
  type: "object",
  additionalProperties: false,
  required: ["name", "subscriptionId", "resourceGroup", "location"],
  properties: {
    name: {
      type: "string",
      pattern: STACK_NAME_PATTERN,
      description:
        "Stack name, 3-15 characters: lowercase letters, digits and single hyphens; starts with a letter, ends with a letter or digit. Every Azure resource of the stack is named after it. May be left out of the body of `PUT /api/stacks/{name}`, which supplies it.",
    },
    subscriptionId: { type: "string", format: "uuid", description: "Azure subscription that holds the stack." },
    resourceGroup: {
      type: "string",
      minLength: 1,
      maxLength: 90,
      pattern: "^[-\\w.()]*[-\\w()]$",
      description: "Resource group for every resource of the stack (created if missing).",
    },
    location: {
      type: "string",
      pattern: "^[a-z][a-z0-9]{2,30}$",
      description: "Azure region of every resource of the stack, e.g. `westeurope`.",
    },
    tags: {
      type: "object",
      maxProperties: 40,
      propertyNames: { type: "string", pattern: "^[^<>%&\\\\?/\\u0000-\\u001f\\u007f-\\u009f]{1,512}$" },
      // no control characters (C0, DEL, C1): tags end up in logs, portals and CSV exports
      additionalProperties: { type: "string", maxLength: 256, pattern: "^[^\\u0000-\\u001f\\u007f-\\u009f]*$" },
      default: {},
      description:
        "Extra tags for every resource; names and values without control characters. Jumpgate adds `jumpgate-stack` itself.",
    },
    network: {
      type: "object",
      additionalProperties: false,
      default: {},
      description: "The stack's virtual network: its address space, the two subnets, and who may reach HTTPS.",
      properties: {
        addressSpace: {
          ...cidr,
          default: "10.40.0.0/16",
          description: "Address space of the virtual network, a /8 to /24 block; both subnets must lie inside it.",
        },
        webSubnet: {
          ...cidr,
          default: "10.40.1.0/24",
          description:
            "Subnet of the web nodes: a /28 or larger, with room for two addresses per node of `fleet.max` (each node, plus a replacement while it is swapped).",
        },
        databaseSubnet: {
          ...cidr,
          default: "10.40.2.0/24",
          description:
            "Subnet delegated to the MySQL flexible server (private access only), a /28 or larger; must not overlap the web subnet.",
        },
        adminSourceRanges: {
          type: "array",
          items: cidr,
          maxItems: 50,
          uniqueItems: true,
          default: [],
          description:
            "When set, HTTPS is allowed only from these ranges instead of the whole Internet (port 80 stays open while HTTP-01 certificates are used).",
        },
      },
    },
    fleet: {
      type: "object",
      additionalProperties: false,
      default: {},
      description: "The web nodes: VMs that run Guacamole behind the stack's load balancer.",
      properties: {
        mode: {
          enum: ["availabilitySet", "scaleSet"],
          default: "availabilitySet",
          description:
            "How the nodes are run: single VMs in an availability set (spread over fault domains), or a VM scale set (which can also spread over `zones`).",
        },
        size: {
          type: "integer",
          minimum: 1,
          maximum: 50,
          default: 2,
          description:
            "Number of web nodes to run. Scaling then moves between `min` and `max`; a `PUT` with another size sets the fleet to it again.",
        },
        min: { type: "integer", minimum: 1, maximum: 50, default: 2, description: "Scaling never goes below this." },
        max: {
          type: "integer",
          minimum: 1,
          maximum: 50,
          default: 4,
          description:
            "Scaling never goes above this. Below it, heal brings up a replacement for a broken node at once (surge) while it tries the cheap step; the fleet returns to its size either way.",
        },
        vmSize: {
          type: "string",
          pattern: "^Standard_[A-Za-z0-9_]{2,40}$",
          default: "Standard_B2s",
          description: "Azure VM size of every web node.",
        },
        image: {
          type: "object",
          additionalProperties: false,
          required: ["publisher", "offer", "sku"],
          default: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
          description:
            "Marketplace image of the web nodes (Ubuntu 24.04 LTS by default). Used when a node is created: existing nodes keep the image they were created from.",
          properties: {
            publisher: {
              type: "string",
              pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
              description: "Image publisher, e.g. `Canonical`.",
            },
            offer: {
              type: "string",
              pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
              description: "Image offer, e.g. `ubuntu-24_04-lts`.",
            },
            sku: {
              type: "string",
              pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
              description: "Image SKU, e.g. `server`.",
            },
            version: {
              type: "string",
              pattern: "^(latest|[0-9]+\\.[0-9]+\\.[0-9]+)$",
              default: "latest",
              description: "Image version: `latest`, or an exact version such as `24.4.202404230`.",
            },
          },
        },
        zones: {
          type: "array",
          items: { enum: ["1", "2", "3"] },
          uniqueItems: true,
          default: [],
          description: "Availability zones (scale sets only; an availability set spreads over fault domains).",
        },
      },
    },
    database: {
      type: "object",
      additionalProperties: false,
      default: {},
      description:
        "The Azure Database for MySQL flexible server that holds Guacamole's users and connections, reachable only from the virtual network.",
      properties: {
        skuName: {
          type: "string",
          pattern: "^Standard_[A-Za-z0-9_]{2,40}$",
          default: "Standard_B1ms",
          description:
            "Compute size of the server. Its family must match `tier`: B sizes (`Standard_B1ms`) are Burstable, D sizes (`Standard_D2ds_v4`) GeneralPurpose, E sizes (`Standard_E2ds_v4`) MemoryOptimized.",
        },
        tier: {
          enum: ["Burstable", "GeneralPurpose", "MemoryOptimized"],
          default: "Burstable",
          description: "Pricing tier of the server; must match the family of `skuName`.",
        },
        version: { enum: ["8.0"], default: "8.0", description: "MySQL major version (8.0.21 on Flexible Server)." },
        storageGb: {
          type: "integer",
          minimum: 20,
          maximum: 16384,
          default: 20,
          description:
            "Storage in GB, grown automatically when it fills up. Azure can grow storage but never shrink it.",
        },
        backupRetentionDays: {
          type: "integer",
          minimum: 1,
          maximum: 35,
          default: 7,
          description: "Days the automatic backups are kept.",
        },
        geoRedundantBackup: {
          type: "boolean",
          default: false,
          description:
            "Also keep the backups in the paired region. Set when the server is created: changing it later does not change an existing server.",
        },
        highAvailability: {
          enum: ["Disabled", "ZoneRedundant", "SameZone"],
          default: "Disabled",
          description:
            "A standby server in another zone (`ZoneRedundant`) or the same zone (`SameZone`); needs tier GeneralPurpose or MemoryOptimized.",
        },
      },
    },
    tls: {
      type: "object",
      additionalProperties: false,
      default: {},
      description: "HTTPS: the name the jump server answers on, and the ACME certificate every node serves for it.",
      properties: {
        hostname: {
          type: "string",
          format: "hostname",
          maxLength: 253,
          pattern: "^[a-z0-9.-]+\\.[a-z]{2,63}$",
          description:
            "Custom domain of the jump server, in lowercase; point its DNS at the public IP. Default: the public IP's name `<dnsLabel>.<location>.cloudapp.azure.com`.",
        },
        dnsLabel: {
          type: "string",
          pattern: "^[a-z][a-z0-9-]{1,61}[a-z0-9]$",
          description:
            "DNS label of the public IP (`<label>.<location>.cloudapp.azure.com`), unique per region across all of Azure: a label another public IP holds fails the deploy (`DnsRecordInUse`). Default: the stack name and a hash of subscription, resource group and name, e.g. `demo-1a2b3c4d`.",
        },
        acme: {
          type: "object",
          additionalProperties: false,
          default: {},
          description: "The ACME CA that issues the certificate, and how it checks that the name is yours.",
          properties: {
            directoryUrl: {
              type: "string",
              format: "uri",
              pattern: "^https://",
              default: "https://acme-v02.api.letsencrypt.org/directory",
              description:
                "ACME directory URL of the CA: Let's Encrypt production by default; its staging directory or any other ACME CA works too. Its host must be public: loopback, link-local and private addresses and local-only names (`localhost`, single labels, `.local`, `.internal`, ...) are refused with 422, except in the sandbox.",
            },
            contact: {
              type: "string",
              format: "email",
              maxLength: 254,
              description: "Email address of the ACME account, for the CA's notices about its certificates.",
            },
            challenge: {
              enum: ["http-01", "dns-01"],
              default: "http-01",
              description:
                "How the CA checks the name: `http-01` through port 80 of every web node, or `dns-01` through a TXT record in `dnsZone` (needs `tls.hostname`).",
            },
            dnsZone: {
              type: "object",
              additionalProperties: false,
              required: ["resourceGroup", "name"],
              properties: {
                subscriptionId: {
                  type: "string",
                  format: "uuid",
                  description: "Subscription of the zone. Default: the stack's `subscriptionId`.",
                },
                resourceGroup: {
                  type: "string",
                  minLength: 1,
                  maxLength: 90,
                  pattern: "^[-\\w.()]*[-\\w()]$",
                  description: "Resource group of the zone.",
                },
                name: {
                  type: "string",
                  format: "hostname",
                  maxLength: 253,
                  pattern: "^[a-z0-9.-]+\\.[a-z]{2,63}$",
                  description: "Name of the zone, e.g. `example.com`; `tls.hostname` must be the zone or a name in it.",
                },
              },
              description:
                "Azure DNS zone where Jumpgate writes the `_acme-challenge` TXT record: required with `dns-01`, refused with `http-01`. The Function App's identity needs DNS Zone Contributor on it.",
            },
          },
        },
      },
    },
    adopt: {
      type: "array",
      maxItems: 50,
      uniqueItems: true,
      items: { type: "string", maxLength: 1024, pattern: ARM_RESOURCE_ID_PATTERN },
      description:
        "ARM ids of existing resources, in the stack's resource group (or the group itself), that the stack takes over. Jumpgate changes only resources tagged `jumpgate-stack=<name>`: one of the stack's resources that already exists without the tag fails the deploy (409 `ForeignResource`, shown as `conflict` by plan) unless its id is listed here; it then gets the tag and is the stack's from then on, teardown included. Secrets, role assignments and MySQL databases and parameters go with their vault, scope or server; a resource tagged for another stack is never taken.",
    },
    guacamole: {
      type: "object",
      additionalProperties: false,
      default: {},
      description: "The Apache Guacamole release the web nodes run.",
      properties: {
        version: {
          type: "string",
          pattern: "^[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}$",
          default: "1.6.0",
          description:
            "A version of the pinned, checksummed catalog (today 1.6.0). Changing it on a deployed stack upgrades it (see Upgrading).",
        },
      },
    },
    access: {
      type: "object",
      additionalProperties: false,
      required: ["tenantId", "clientId", "adminGroups"],
      description:
        "Sign-in with Entra ID (see Signing in). When set, Guacamole's sign-in page is Microsoft's, Entra groups decide who may do what, and the local `guacadmin` is disabled except for a break-glass window. Left out: local Guacamole accounts only, as before.",
      properties: {
        tenantId: {
          type: "string",
          format: "uuid",
          description: "Directory (tenant) id of the Entra tenant users sign in with.",
        },
        clientId: {
          type: "string",
          format: "uuid",
          description:
            "Application (client) id of the app registration Guacamole signs users in with (`infra/app/sign-in-app.bicep` or `az ad app create`, see Signing in).",
        },
        usernameClaim: {
          enum: ["preferred_username", "email"],
          default: "preferred_username",
          description:
            "The ID token claim that becomes the Guacamole username: `preferred_username` (the user principal name, always present) or `email` (only for users with a mail address).",
        },
        adminGroups: {
          type: "array",
          items: { type: "string", format: "uuid" },
          maxItems: 20,
          uniqueItems: true,
          description:
            "Object ids of the Entra groups whose members administer Guacamole (its ADMINISTER system permission); at least one.",
        },
        userGroups: {
          type: "array",
          items: { type: "string", format: "uuid" },
          maxItems: 50,
          uniqueItems: true,
          default: [],
          description:
            "Object ids of the Entra groups whose members may sign in as plain users: each becomes a Guacamole user group without system permissions, to which administrators grant connections.",
        },
        breakGlass: {
          type: "object",
          additionalProperties: false,
          default: {},
          description:
            "The local `guacadmin`, disabled while `access` is set: `POST /api/stacks/{name}/break-glass` enables it for a while.",
          properties: {
            maxMinutes: {
              type: "integer",
              minimum: 5,
              maximum: 1440,
              default: 240,
              description: "Longest window a break-glass request may ask for.",
            },
            passwordMaxAgeDays: {
              type: "integer",
              minimum: 1,
              maximum: 365,
              default: 30,
              description:
                "Rotate `guacadmin`'s password (in Key Vault) when it is older than this, checked daily; it also changes after every break-glass window.",
            },
          },
        },
      },
    },
    nodeImage: {
      type: "object",
      additionalProperties: false,
      description:
        "Node images (see Node images): the stack gets its own Azure Compute Gallery and image definition, Jumpgate bakes a node image per Guacamole version, node installer digest and base image, and new web nodes boot from it (first boot writes configuration and starts services; nothing is downloaded or built). Until a version exists, and whenever a build fails, new nodes boot from source as without it. Left out: every new node builds from source at first boot.",
      properties: {
        enabled: {
          type: "boolean",
          default: false,
          description:
            "Keep a node image for the stack and boot new web nodes from it. False (or `nodeImage` left out): no gallery, every node installs from source.",
        },
      },
    },
    recordings: {
      type: "object",
      additionalProperties: false,
      description:
        "Session recordings (see Session recordings): guacd records every session of the connections Jumpgate manages, each node ships its recordings to the stack's own immutable blob container. Left out: nothing is recorded.",
      properties: {
        enabled: {
          type: "boolean",
          default: true,
          description:
            "Record sessions. False stops new recordings; the storage and what it holds stay (recordings are evidence: teardown keeps a container under retention).",
        },
        retentionDays: {
          type: "integer",
          minimum: 1,
          maximum: 146000,
          default: 90,
          description:
            "Time-based retention of every recording (the container's version-level immutability policy): no one, Jumpgate included, can delete or change a recording younger than this.",
        },
        includeKeys: {
          type: "boolean",
          default: false,
          description:
            "Also record the keys users press (guacd's `recording-include-keys`). Off by default: a key log holds what people type, passwords included.",
        },
        coolAfterDays: {
          type: "integer",
          minimum: 1,
          maximum: 36500,
          default: 30,
          description:
            "Move recordings to the cool access tier this many days after they were written (a lifecycle rule).",
        },
        immutability: {
          enum: ["unlocked", "locked"],
          default: "unlocked",
          description:
            "The retention policy's state as the stack expects it. Jumpgate creates it unlocked and never locks it itself; `locked` says a person has locked it (see Session recordings, \"Locking the policy\"), after which Jumpgate only checks it and refuses any change to its period (extending it is a person's act too).",
        },
      },
    },
    connections: {
      type: "object",
      additionalProperties: false,
      required: ["sources"],
      description:
        "Guacamole connections generated from the Azure inventory (see Connections from the inventory): the tagged VMs (and scale sets' instances, Flexible or Uniform) of each source become connections, in connection groups per subscription and resource group, readable by the source's Entra groups, with credentials from Key Vault. Needs `access`. Left out: connections are made by hand only, as before.",
      properties: {
        sources: {
          type: "array",
          minItems: 1,
          maxItems: 20,
          description:
            "Where to look for targets, and who may use what is found there. A VM matched by two sources is the first one's.",
          items: {
            type: "object",
            additionalProperties: false,
            required: ["subscriptionId", "groups"],
            properties: {
              subscriptionId: { type: "string", format: "uuid", description: "The subscription searched." },
              resourceGroups: {
                type: "array",
                maxItems: 50,
                uniqueItems: true,
                items: { type: "string", minLength: 1, maxLength: 90, pattern: "^[-\\w.()]*[-\\w()]$" },
                description:
                  "Only these resource groups of the subscription (compared case-insensitively); left out: the whole subscription.",
              },
              tag: {
                type: "string",
                minLength: 1,
                maxLength: 128,
                pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                default: "jumpgate-connect",
                description:
                  "The tag that selects a VM (on the VM, or on its scale set: a Uniform scale set's instances are selected by the scale set's tag only). Its value says the protocol and optionally the port: `ssh`, `rdp`, `vnc`, `ssh:2222`; any other value is skipped with the reason.",
              },
              credential: {
                type: "object",
                additionalProperties: false,
                required: ["secret"],
                description:
                  'A Key Vault secret with the targets\' credentials, as JSON: `{"username": ..., "password": ...}` or `{"username": ..., "privateKey": ..., "passphrase": ...}` (SSH). The app reads it at every sync (a new version reaches the connections then) and writes it into the connections\' parameters; users never see it. Left out: users type their credentials when they connect.',
                properties: {
                  secret: {
                    type: "string",
                    pattern: "^[0-9A-Za-z-]{1,127}$",
                    description: "The secret's name.",
                  },
                  vaultId: {
                    type: "string",
                    pattern:
                      "^/subscriptions/[0-9A-Fa-f-]{36}/resource[Gg]roups/[-\\w.()]*[-\\w()]/providers/Microsoft\\.KeyVault/vaults/[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$",
                    description:
                      "The ARM id of the vault that holds it; left out: the stack's own vault. The Function App's identity needs `Key Vault Secrets User` on it (a vault of someone else's is granted by its owner).",
                  },
                },
              },
              recordings: {
                type: "boolean",
                description:
                  "Whether this source's connections are recorded when the stack's `recordings` is on (see Session recordings); false leaves them unrecorded. Left out: as the stack says.",
              },
              groups: {
                type: "array",
                minItems: 1,
                maxItems: 20,
                uniqueItems: true,
                items: { type: "string", format: "uuid" },
                description:
                  "Object ids of the Entra groups whose members may use these connections; each must be mapped in `access` (`adminGroups` or `userGroups`), which makes it a Guacamole user group.",
              },
            },
          },
        },
      },
    },
    policies: {
      type: "object",
      additionalProperties: false,
      default: {},
      description: "How Jumpgate heals, scales and rotates the stack on its own.",
      properties: {
        repair: {
          type: "object",
          additionalProperties: false,
          default: {},
          description: "Repair of broken web nodes, from Azure Monitor alerts (see Healing).",
          properties: {
            enabled: {
              type: "boolean",
              default: true,
              description:
                "Repair broken nodes. When false, heal still looks and records what it found, but changes nothing.",
            },
            maxUnhealthyPercent: {
              type: "integer",
              minimum: 1,
              maximum: 100,
              default: 50,
              description:
                "Fleet brake: when more than this share of the nodes is broken, heal changes nothing until every node is healthy again or a person resumes it.",
            },
            maxRepairsPerHour: {
              type: "integer",
              minimum: 0,
              maximum: 20,
              default: 3,
              description:
                "Most repair steps that interrupt a node (restart-services, restart, redeploy, reimage, replace) per stack in any hour; 0 allows none.",
            },
            debounceSeconds: {
              type: "integer",
              minimum: 0,
              maximum: 3600,
              default: 60,
              description: "How long heal waits after a new alert before it looks at the nodes.",
            },
            suspendAfterFailedRepairs: {
              type: "integer",
              minimum: 1,
              maximum: 10,
              default: 3,
              description:
                "After this many repairs in a row that did not fix a node, its repairs are suspended until a person resumes them (`POST /api/stacks/{name}/heal/resume`).",
            },
          },
        },
        scale: {
          type: "object",
          additionalProperties: false,
          default: {},
          description:
            "Adding and removing web nodes, one at a time, from Azure Monitor alerts, between `fleet.min` and `fleet.max` (see Scaling).",
          properties: {
            enabled: {
              type: "boolean",
              default: false,
              description:
                "Scale on alerts. When false the stack gets no scale alert rules and scale signals are ignored.",
            },
            metric: {
              enum: ["cpu", "sessions"],
              default: "cpu",
              description:
                "What drives scaling: `cpu` (`Percentage CPU` above 75 scales out, below 25 scales in) or `sessions` (live Guacamole sessions per node above 20 or below 5, published by the nodes).",
            },
            cooldownMinutes: {
              type: "integer",
              minimum: 1,
              maximum: 1440,
              default: 10,
              description:
                "Quiet time after every scale action, in both directions; a request within it waits for its end.",
            },
            drainTimeoutMinutes: {
              type: "integer",
              minimum: 0,
              maximum: 1440,
              default: 60,
              description:
                "How long a node taken out of service (scale-in, a disruptive repair, a credential roll) waits for its sessions to end before they are cut.",
            },
          },
        },
        rotation: {
          type: "object",
          additionalProperties: false,
          default: {},
          description: "Automatic rotation of the database credentials, checked daily (see Credential rotation).",
          properties: {
            databaseCredentialMaxAgeDays: {
              type: "integer",
              minimum: 1,
              maximum: 365,
              default: 30,
              description: "Rotate the password of Guacamole's database user when it is older than this.",
            },
            adminPasswordMaxAgeDays: {
              type: "integer",
              minimum: 1,
              maximum: 365,
              default: 90,
              description: "Rotate the MySQL server's admin password when it is older than this.",
            },
          },
        },
      },
    },
  },
} as const;
