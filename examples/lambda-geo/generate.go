package main

// template.yaml is template.in.yaml with the CloudWatch dashboard and alarms that package emf
// makes from the metrics the function writes; TestTemplateIsGenerated holds it to that.
//go:generate go run ./gentemplate -in template.in.yaml -out template.yaml
