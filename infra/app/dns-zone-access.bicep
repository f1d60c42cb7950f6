// Jumpgate's operator role on one Azure DNS zone, for DNS-01 challenges: at a zone's scope the role's
// only applicable actions are reading the zone and writing/deleting its TXT records.
param zoneName string
param roleDefinitionId string
param principalId string
param condition string

resource zone 'Microsoft.Network/dnsZones@2018-05-01' existing = {
  name: zoneName
}

resource access 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(zone.id, principalId, roleDefinitionId)
  scope: zone
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    condition: condition
    conditionVersion: '2.0'
  }
}
