package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
)

// streamIteratorAgeLimit is how far (ms) the publisher may fall behind the stream before an
// alarm: events reach the provisioning layer late.
const streamIteratorAgeLimit = 5 * 60 * 1000

// newAlarms raises CloudWatch alarms, all notifying one SNS topic (subscribe to it to be told):
// every function's errors and throttles, any dead-lettered stream record, a publisher that
// falls behind the stream, and any failed countdown execution.
func newAlarms(stack awscdk.Stack, fns functions, dlq awssqs.Queue, countdown awsstepfunctions.StateMachine) awssns.Topic {
	topic := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("Workspace policy control plane alarms"),
	})
	action := awscloudwatchactions.NewSnsAction(topic)
	alarm := func(id string, metric awscloudwatch.IMetric, op awscloudwatch.ComparisonOperator, threshold float64, description string) {
		a := awscloudwatch.NewAlarm(stack, jsii.String(id+"Alarm"), &awscloudwatch.AlarmProps{
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription:   jsii.String(description),
		})
		a.AddAlarmAction(action)
	}
	fiveMinSum := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	above := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD

	for _, spec := range functionSpecs() {
		fn := fns.all()[spec.name]
		alarm(spec.id+"Errors", fn.MetricErrors(fiveMinSum), atLeast, 1, "The "+spec.name+" function returned errors.")
		alarm(spec.id+"Throttles", fn.MetricThrottles(fiveMinSum), atLeast, 1, "The "+spec.name+" function was throttled.")
	}
	alarm("StreamDeadLetters", dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: awscdk.Duration_Minutes(jsii.Number(1)), Statistic: jsii.String("Maximum"),
	}), above, 0, "Stream records the publisher could not handle are waiting in the dead-letter queue.")
	alarm("PublisherIteratorAge", fns.publisher.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
		Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
	}), above, streamIteratorAgeLimit, "The publisher is more than five minutes behind the table stream.")
	alarm("CountdownFailed", countdown.MetricFailed(fiveMinSum), atLeast, 1,
		"A time-limit countdown execution failed (the sweep catches the missed expiry).")
	return topic
}
