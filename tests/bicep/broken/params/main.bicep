// Valid; its parameter file next to it is not.

@description('Required.')
param region string

@description('Optional.')
param replicas int = 1

output summary string = '${region}/${replicas}'
